"""API authentication, HTTPS, and Temporal over TLS, mutual TLS and API keys."""

import asyncio
import json
import os
import ssl
import subprocess
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from multidict import CIMultiDict

from td import api as api_module
from td.server import create_runner
from tests.certificates import Certificates, make_certificates
from tests.grpc_proxy import GrpcProxy
from tests.harness import Api, new_instance_id, start_params
from tests.processes import DISPATCH_HEADERS, TD, Dispatch, without_temporal_flag

TOKEN = DISPATCH_HEADERS["Authorization"]


@pytest.fixture(scope="module")
def certificates(tmp_path_factory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certificates"))


def client_tls(certificates: Certificates) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=certificates.ca)


async def post(api: Api, instance_id: int, headers: dict[str, str]) -> aiohttp.ClientResponse:
    body = {"workflow_id": "random_dog", "params": start_params("2022", instance_id)}
    return await api.http.post("/workflow/", json=body, headers=headers)


async def test_missing_header_answers_401(make_api):
    api = await make_api(auth_value=TOKEN)
    instance_id = new_instance_id()

    response = await post(api, instance_id, {})

    body = await response.json()
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="td"'
    assert body["artifacts"] == []
    assert body["field"] == "Authorization"
    assert "missing" in body["error"]


async def test_wrong_header_starts_nothing(make_api):
    api = await make_api(auth_value=TOKEN)
    instance_id = new_instance_id()

    response = await post(api, instance_id, {"Authorization": "Bearer not-the-token"})
    follow = await api.http.get(
        f"/workflow?workflow_id=random_dog&workflow_instance_id={instance_id}",
        headers=DISPATCH_HEADERS,
    )

    assert response.status == 401
    assert follow.status == 404


async def test_right_header_is_accepted(make_api):
    api = await make_api(auth_value=TOKEN)

    response = await post(api, new_instance_id(), {"Authorization": TOKEN})

    assert response.status == 201


@pytest.mark.parametrize(
    "header",
    [TOKEN + "x", TOKEN[:-1], TOKEN.lower(), "Basic " + TOKEN, "", "Bearer"],
)
async def test_near_misses_are_rejected(make_api, header):
    api = await make_api(auth_value=TOKEN)

    response = await post(api, new_instance_id(), {"Authorization": header})

    assert response.status == 401


async def test_auth_file_rotation(make_api, tmp_path):
    auth_file = tmp_path / "auth"
    auth_file.write_text("# accepted values\n\nBearer old-token\nBasic dGQ6c2VjcmV0\n")
    api = await make_api(auth_file=auth_file)

    old = await post(api, new_instance_id(), {"Authorization": "Bearer old-token"})
    basic = await post(api, new_instance_id(), {"Authorization": "Basic dGQ6c2VjcmV0"})
    comment = await post(api, new_instance_id(), {"Authorization": "# accepted values"})
    assert old.status == 201
    assert basic.status == 201
    assert comment.status == 401
    challenges = (await post(api, new_instance_id(), {})).headers["WWW-Authenticate"]
    assert challenges == 'Basic realm="td", Bearer realm="td"'

    auth_file.write_text("Bearer new-token\n")
    # A new modification time, even on a file system with coarse timestamps.
    os.utime(auth_file, ns=(1, 1))
    rotated_old = await post(api, new_instance_id(), {"Authorization": "Bearer old-token"})
    rotated_new = await post(api, new_instance_id(), {"Authorization": "Bearer new-token"})
    assert rotated_old.status == 401
    assert rotated_new.status == 201


@pytest.mark.parametrize("damage", ["not-utf8", "removed", "directory", "fifo"])
async def test_unreadable_auth_file_keeps_values(make_api, tmp_path, caplog, damage):
    auth_file = tmp_path / "auth"
    auth_file.write_text("Bearer kept-token\n")
    api = await make_api(auth_file=auth_file)

    auth_file.unlink()
    if damage == "not-utf8":
        auth_file.write_bytes(b"Bearer kept-token\n\xff\xfe\n")
    elif damage == "directory":
        auth_file.mkdir()
    elif damage == "fifo":
        os.mkfifo(auth_file)
    accepted = await post(api, new_instance_id(), {"Authorization": "Bearer kept-token"})
    rejected = await post(api, new_instance_id(), {})
    await post(api, new_instance_id(), {})

    assert accepted.status == 201
    assert rejected.status == 401
    assert (await rejected.json())["artifacts"] == []
    errors = [record for record in caplog.records if "Reading the auth file" in record.message]
    assert len(errors) == 1
    # A decoding error would quote the byte at fault, which may belong to a secret.
    assert "0xff" not in errors[0].message


async def test_challenge_never_reveals_secret(make_api, tmp_path):
    auth_file = tmp_path / "auth"
    auth_file.write_text("rawsecret-no-scheme\nBearer\ttab-secret\nbasic dGQ6c2VjcmV0\nToken\n")
    api = await make_api(auth_file=auth_file, auth_value="envsecret")

    response = await post(api, new_instance_id(), {})

    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="td", Bearer realm="td"'


async def test_repeated_header_is_rejected(make_api):
    api = await make_api(auth_value=TOKEN)
    headers = CIMultiDict([("Authorization", TOKEN), ("Authorization", "Bearer other")])

    response = await post(api, new_instance_id(), headers)

    assert response.status == 401
    assert "sent more than once" in (await response.json())["error"]


async def test_auth_file_and_env_value_both_count(make_api, tmp_path):
    auth_file = tmp_path / "auth"
    auth_file.write_text("Bearer from-file\n")
    api = await make_api(auth_file=auth_file, auth_value="Bearer from-env")

    from_file = await post(api, new_instance_id(), {"Authorization": "Bearer from-file"})
    from_env = await post(api, new_instance_id(), {"Authorization": "Bearer from-env"})

    assert from_file.status == 201
    assert from_env.status == 201


async def test_secret_never_logged(make_api, caplog):
    api = await make_api(auth_value=TOKEN)

    await post(api, new_instance_id(), {"Authorization": "Bearer a-wrong-secret"})
    await post(api, new_instance_id(), {"Authorization": TOKEN})

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "Rejected POST /workflow/" in logged
    assert "a-wrong-secret" not in logged
    assert TOKEN.split()[1] not in logged


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({f"k{n}": "v" for n in range(60)}, "params"),
        ({"breed": "x" * 3000}, "params.breed"),
        ({"note": {"nested": 1}}, "params.note"),
        ({"k" * 200: "v"}, "params"),
    ],
)
async def test_params_beyond_bounds_answer_400(make_api, body, field):
    api = await make_api()
    params = {"workflowInstanceId": new_instance_id(), **body}

    response = await api.http.post(
        "/workflow/", json={"workflow_id": "random_dog", "params": params}
    )

    answer = await response.json()
    assert response.status == 400
    assert answer["field"] == field


async def test_td_serves_https(start_td, td_args, td_env, certificates):
    env = {**td_env, "TD_AUTH": TOKEN}
    args = [
        *td_args,
        f"-tls-cert={certificates.server_cert}",
        f"-tls-key={certificates.server_key}",
    ]
    td = start_td(args, env, client_tls=client_tls(certificates))
    await td.wait_ready()
    instance_id = new_instance_id()

    connector = aiohttp.TCPConnector(ssl=client_tls(certificates))
    async with aiohttp.ClientSession(connector=connector) as session:
        dispatch = Dispatch(session, td.url, "2023")
        await dispatch.run("random_dog", instance_id, {})
        answers = await dispatch.follow("random_dog", instance_id)

    assert answers[-1]["status"] == "Completed"
    assert td.stop() == 0
    assert TOKEN.split()[1] not in td.log()


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion:DeprecationWarning")
async def test_https_rejects_old_tls(start_td, td_args, td_env, certificates):
    args = [
        *td_args,
        f"-tls-cert={certificates.server_cert}",
        f"-tls-key={certificates.server_key}",
    ]
    td = start_td(args, client_tls=client_tls(certificates))
    await td.wait_ready()

    old = client_tls(certificates)
    old.minimum_version = ssl.TLSVersion.TLSv1
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    # OpenSSL's default security level forbids TLS 1.1 in the client too; lower it to try.
    old.set_ciphers("DEFAULT:@SECLEVEL=0")
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        await asyncio.open_connection("127.0.0.1", td.port, ssl=old)
    assert td.stop() == 0


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["-tls-cert=/nonexistent/cert.pem", "-tls-key=/nonexistent/key.pem"], "does not exist"),
        (["-tls-cert=CERT"], "go together"),
        (["-auth-file=/nonexistent/auth"], "cannot read -auth-file"),
    ],
)
async def test_bad_security_files_exit_2(td_env, certificates, flags, message):
    flags = [flag.replace("CERT", str(certificates.server_cert)) for flag in flags]

    process = await asyncio.create_subprocess_exec(
        TD, *flags, env=td_env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 60)

    assert process.returncode == 2
    assert message in stderr.decode()


def test_encrypted_tls_key_exits_2(td_env, certificates, tmp_path):
    encrypted = tmp_path / "encrypted.key"
    subprocess.run(
        ["openssl", "pkey", "-in", str(certificates.server_key), "-aes256",
         "-passout", "pass:secret", "-out", str(encrypted)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip

    result = subprocess.run(
        [TD, f"-tls-cert={certificates.server_cert}", f"-tls-key={encrypted}"],
        env=td_env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert result.returncode == 2
    assert f"the TLS key {encrypted} is encrypted" in result.stderr
    assert "pass phrase" not in result.stderr


async def test_no_secret_warns_at_start(start_td, td_args):
    td = start_td([*td_args])
    await td.wait_ready()
    assert td.stop() == 0

    assert "No API secret is configured" in td.log()


def tls_env(td_env: dict[str, str], proxy: GrpcProxy, certificates: Certificates) -> dict:
    """The environment for a td that reaches Temporal through `proxy`, trusting the test CA."""
    return {
        **td_env,
        "TEMPORAL_ADDRESS": proxy.address,
        "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(certificates.ca),
        "TEMPORAL_TLS_SERVER_NAME": "localhost",
    }


@pytest.mark.parametrize("mode", ["tls", "mutual-tls", "api-key"])
async def test_temporal_over_tls(start_td, td_args, td_env, dev_env, certificates, tmp_path, mode):
    upstream = dev_env.client.service_client.config.target_host
    proxy = GrpcProxy(
        tmp_path / "nginx",
        upstream,
        certificates,
        require_client_cert=mode == "mutual-tls",
        api_key="temporal-key" if mode == "api-key" else None,
    )
    env = tls_env(td_env, proxy, certificates)
    if mode == "mutual-tls":
        env["TEMPORAL_TLS_CLIENT_CERT_PATH"] = str(certificates.client_cert)
        env["TEMPORAL_TLS_CLIENT_KEY_PATH"] = str(certificates.client_key)
    if mode == "api-key":
        env["TEMPORAL_API_KEY"] = "temporal-key"
    try:
        td = start_td(without_temporal_flag(td_args), env)
        await td.wait_ready()
        instance_id = new_instance_id()
        async with aiohttp.ClientSession() as session:
            dispatch = Dispatch(session, td.url, "2023")
            await dispatch.run("random_dog", instance_id, {})
            answers = await dispatch.follow("random_dog", instance_id)
        assert td.stop() == 0
    finally:
        proxy.stop()

    assert answers[-1]["status"] == "Completed"
    assert f"Connected to Temporal at {proxy.address}" in td.log()
    assert "temporal-key" not in td.log()


@pytest.mark.parametrize("mode", ["no-client-cert", "wrong-api-key"])
async def test_temporal_tls_rejection_answers_503(
    start_td, td_args, td_env, dev_env, certificates, tmp_path, mode
):
    upstream = dev_env.client.service_client.config.target_host
    proxy = GrpcProxy(
        tmp_path / "nginx",
        upstream,
        certificates,
        require_client_cert=mode == "no-client-cert",
        api_key="temporal-key" if mode == "wrong-api-key" else None,
    )
    env = tls_env(td_env, proxy, certificates)
    if mode == "wrong-api-key":
        env["TEMPORAL_API_KEY"] = "not-the-key"
    try:
        td = start_td(without_temporal_flag(td_args), env)
        await asyncio.sleep(3)
        async with aiohttp.ClientSession() as session:
            dispatch = Dispatch(session, td.url, "2023")
            status, body = await dispatch.poll("random_dog", new_instance_id())
        assert td.stop() == 0
    finally:
        proxy.stop()

    assert status == 503
    assert body["artifacts"] == []
    assert "Connecting to Temporal" in td.log()
    assert "not-the-key" not in td.log()


def test_auth_file_values_parse(tmp_path):
    from td.auth import Credentials

    auth_file = tmp_path / "auth"
    auth_file.write_text("  Bearer a  \n#Bearer b\n\n Basic c\n")

    credentials = Credentials(Path(auth_file))

    assert credentials.accepted_values() == [b"Bearer a", b"Basic c"]
    assert json.dumps(credentials.schemes()) == '["Basic", "Bearer"]'


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
async def test_health_is_open_with_auth(make_api, path):
    api = await make_api(auth_value=TOKEN)

    response = await api.http.get(path)

    assert response.status == 200


async def test_silent_connections_are_closed():
    runner = create_runner(web.Application(), keepalive_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        silent = await asyncio.open_connection("127.0.0.1", port)
        partial = await asyncio.open_connection("127.0.0.1", port)
        partial[1].write(b"GET /healthz HTTP/1.1\r\nHost: td\r\n")

        # read() returns b"" once td closes the connection, and raises TimeoutError otherwise.
        silent_end = await asyncio.wait_for(silent[0].read(), 5)
        partial_end = await asyncio.wait_for(partial[0].read(), 5)
    finally:
        await runner.cleanup()

    assert silent_end == b""
    assert partial_end == b""


async def test_trickled_body_answers_408(make_api, monkeypatch):
    monkeypatch.setattr(api_module, "BODY_TIMEOUT", 0.5)
    api = await make_api(worker=False)
    reader, writer = await asyncio.open_connection(api.http.host, api.http.port)
    writer.write(
        b"POST /workflow/ HTTP/1.1\r\nHost: td\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"workflow_id"'
    )

    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    body = await reader.readexactly(length)
    writer.close()

    assert head.startswith(b"HTTP/1.1 408")
    assert json.loads(body)["field"] == "body"
    assert json.loads(body)["artifacts"] == []
