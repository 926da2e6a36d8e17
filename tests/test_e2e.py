"""The installed `td` command, driven the way each Dispatch generation drives it.

Every test starts td as a child process, against a real Temporal dev server and the stand-ins,
all on loopback. The tests marked BOTH_COMMANDS also run the binary that PyInstaller builds
from build.spec.
"""

import asyncio
import importlib.metadata
import json
import os
import signal
import socket
import subprocess

import aiohttp
import pytest

from tests.dispatch_rules import check_answer, check_progression
from tests.frozen import BOTH_COMMANDS
from tests.processes import Dispatch, free_port, new_instance_id


@BOTH_COMMANDS
@pytest.mark.parametrize("generation", ["2021", "2022", "2023"])
async def test_td_serves_dispatch_generation(start_td, td_args, generation):
    td = start_td(td_args)
    await td.wait_ready()

    async with aiohttp.ClientSession() as session:
        dispatch = Dispatch(session, td.url, generation)
        for workflow_id, params, label in [
            ("random_dog", {"breed": "hound/afghan"}, "Dog"),
            ("random_unsplash", {"term": "love"}, "Photo"),
        ]:
            instance_id = new_instance_id()
            created = await dispatch.run(workflow_id, instance_id, params)
            check_answer(created)
            assert created["status"] == "Created"

            answers = await dispatch.follow(workflow_id, instance_id)

            final = answers[-1]
            assert final["status"] == "Completed", final
            assert [a["name"] for a in final["artifacts"]] == [f"{label} 1", f"{label} 2"]
            check_progression([created["status"], *(answer["status"] for answer in answers)])

    assert td.stop() == 0


async def test_readyz_once_worker_polls(start_td, td_args):
    td = start_td(td_args)
    await td.wait_ready()
    ready_url = td.url.replace("/workflow/", "/readyz")

    async with aiohttp.ClientSession() as session:
        for _ in range(100):
            async with session.get(ready_url) as response:
                body = await response.json()
                if response.status == 200:
                    break
            await asyncio.sleep(0.1)

    assert response.status == 200
    assert body == {"status": "ready"}
    assert td.stop() == 0


async def test_readyz_api_only_without_worker(start_td, td_args):
    td = start_td([*td_args, "-worker=false"])
    await td.wait_ready()

    async with (
        aiohttp.ClientSession() as session,
        session.get(td.url.replace("/workflow/", "/readyz")) as response,
    ):
        status = response.status

    assert status == 200
    assert td.stop() == 0


@BOTH_COMMANDS
async def test_sigterm_exits_cleanly(start_td, td_args):
    td = start_td(td_args)
    await td.wait_ready()

    exit_code = td.stop(signal.SIGTERM)

    assert exit_code == 0
    assert "td stopped" in td.log()


@BOTH_COMMANDS
async def test_sigint_exits_cleanly(start_td, td_args):
    td = start_td(td_args)
    await td.wait_ready()

    exit_code = td.stop(signal.SIGINT)

    assert exit_code == 0


async def test_worker_killed_instance_resumes(start_td, td_args):
    args = [arg for arg in td_args if not arg.startswith("-step-delay")] + ["-step-delay=2s"]
    worker = start_td(args)
    api_only = start_td([*args, "-worker=false"])
    await worker.wait_ready()
    await api_only.wait_ready()
    instance_id = new_instance_id()

    async with aiohttp.ClientSession() as session:
        dispatch = Dispatch(session, api_only.url, "2023")
        await dispatch.run("random_dog", instance_id, {})
        for _ in range(100):
            _, body = await dispatch.poll("random_dog", instance_id)
            if body["artifacts"]:
                break
            await asyncio.sleep(0.05)
        worker.process.send_signal(signal.SIGKILL)
        worker.process.wait()

        # With no worker left, the API-only td still reports the step that is done.
        await asyncio.sleep(2.5)
        status, while_down = await dispatch.poll("random_dog", instance_id)
        assert status == 200
        check_answer(while_down)
        assert while_down["status"] == "Running"
        assert [a["name"] for a in while_down["artifacts"]] == ["Dog 1"]

        restarted = start_td(args)
        await restarted.wait_ready()
        answers = await dispatch.follow("random_dog", instance_id)

    final = answers[-1]
    assert final["status"] == "Completed"
    assert [a["name"] for a in final["artifacts"]] == ["Dog 1", "Dog 2"]
    assert final["artifacts"][0] == while_down["artifacts"][0]
    assert restarted.stop() == 0
    assert api_only.stop() == 0


@BOTH_COMMANDS
async def test_dev_flag_runs_and_keeps_data(start_td, td_env, dog_api, tmp_path):
    temporal_port = free_port()
    args = [
        "-dev",
        f"-temporal=127.0.0.1:{temporal_port}",
        "-step-delay=200ms",
        f"-dog-api={dog_api.base_url}",
    ]
    td = start_td(args)
    await td.wait_ready(limit=90)
    instance_id = new_instance_id()

    async with aiohttp.ClientSession() as session:
        dispatch = Dispatch(session, td.url, "2023")
        created = await dispatch.run("random_dog", instance_id, {})
        assert created["weblink"].startswith(f"http://127.0.0.1:{temporal_port + 1000}/namespaces/")
        answers = await dispatch.follow("random_dog", instance_id)
        assert answers[-1]["status"] == "Completed"
        assert td.stop(signal.SIGINT) == 0
        assert "Temporal UI at" in td.log()
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", temporal_port), 1):
            pass

        again = start_td(args)
        await again.wait_ready(limit=90)
        dispatch.url = again.url
        status, body = await dispatch.poll("random_dog", instance_id)
        assert again.stop() == 0

    assert status == 200
    assert body["status"] == "Completed"
    assert (tmp_path / "state" / "td" / f"temporal-dev-{temporal_port}.db").is_file()


async def test_dev_flag_rejects_busy_port(start_td, dev_env):
    busy = dev_env.client.service_client.config.target_host

    td = start_td(["-dev", f"-temporal={busy}"])
    exit_code = await asyncio.to_thread(td.process.wait, 60)

    assert exit_code == 1
    assert "is in use" in td.log()
    assert "Worker polling" not in td.log()


async def test_dev_flag_busy_api_port(start_td):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        # The later -api wins over the one that start_td puts first.
        td = start_td(["-dev", f"-temporal=127.0.0.1:{free_port()}", f"-api=127.0.0.1:{port}"])
        exit_code = await asyncio.to_thread(td.process.wait, 30)

    assert exit_code == 1
    assert f"Listening on 127.0.0.1:{port} failed" in td.log()
    assert "Starting the Temporal dev server" not in td.log()


async def test_dev_server_exit_stops_td(start_td, dog_api):
    temporal_port = free_port()
    td = start_td(["-dev", f"-temporal=127.0.0.1:{temporal_port}", f"-dog-api={dog_api.base_url}"])
    await td.wait_ready(limit=90)

    # Kill the dev server, which runs in a process group of its own.
    pgrep = await asyncio.create_subprocess_exec(
        "pgrep", "-f", f"start-dev --ip 127.0.0.1 --port {temporal_port}",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    found, _ = await pgrep.communicate()
    for pid in found.split():
        os.kill(int(pid), signal.SIGKILL)
    exit_code = await asyncio.to_thread(td.process.wait, 60)

    assert exit_code == 1
    assert "The Temporal dev server exited" in td.log()


@BOTH_COMMANDS
def test_unknown_flag_exits_2(td_command, td_env):
    result = subprocess.run(
        [td_command, "-nope"], env=td_env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 2
    assert "flag provided but not defined: -nope" in result.stderr
    assert "Usage: td" in result.stderr


@BOTH_COMMANDS
def test_help_exits_0(td_command, td_env):
    result = subprocess.run(
        [td_command, "-help"], env=td_env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0
    assert "-step-delay duration" in result.stdout


@BOTH_COMMANDS
def test_version_prints_package_version(td_command, td_env):
    result = subprocess.run(
        [td_command, "-version"], env=td_env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0
    assert result.stdout == f"td {importlib.metadata.version('td')}\n"
    assert result.stderr == ""


async def test_environment_sets_flags(start_td, td_env, td_args):
    env = dict(td_env)
    env["TD_QUEUE"] = "ignored-by-flag"
    env["TD_STEP_DELAY"] = "100ms"
    args = [arg for arg in td_args if not arg.startswith("-step-delay")]
    td = start_td(args, env)
    await td.wait_ready()
    instance_id = new_instance_id()

    async with aiohttp.ClientSession() as session:
        dispatch = Dispatch(session, td.url, "2023")
        await dispatch.run("random_dog", instance_id, {})
        answers = await dispatch.follow("random_dog", instance_id)

    assert answers[-1]["status"] == "Completed"
    assert td.stop() == 0


async def test_json_logs_one_object_a_line(start_td, td_args):
    td = start_td([*td_args, "-log-format=json", "-log-level=debug"])
    await td.wait_ready()
    instance_id = new_instance_id()
    async with aiohttp.ClientSession() as session:
        dispatch = Dispatch(session, td.url, "2023")
        await dispatch.run("random_dog", instance_id, {})
        await dispatch.follow("random_dog", instance_id)
    assert td.stop() == 0

    entries = [json.loads(line) for line in td.log().splitlines() if line.strip()]
    access = [entry for entry in entries if entry["logger"] == "aiohttp.access"]
    assert {"time", "level", "logger", "message"} <= set(entries[0])
    assert access[0]["method"] == "GET"
    assert any(entry.get("workflow_id") == f"random_dog-{instance_id}" for entry in access)
    assert all(isinstance(entry["duration_ms"], float) for entry in access)
    assert any(entry["level"] == "debug" for entry in entries)
    running = [entry for entry in entries if entry["message"].startswith("Workflow instance")]
    assert running[0]["temporal_workflow"]["workflow_id"] == f"random_dog-{instance_id}"
    assert "{" not in running[0]["message"]


async def test_log_level_warning_hides_info(start_td, td_args):
    td = start_td([*td_args, "-log-level=warning"])
    await td.wait_ready()
    assert td.stop() == 0

    assert " INFO " not in td.log()
    assert "No API secret is configured" in td.log()


async def test_metrics_listener_serves_td_and_sdk(start_td, td_args):
    metrics_port = free_port()
    td = start_td([*td_args, f"-metrics=127.0.0.1:{metrics_port}"])
    await td.wait_ready()
    instance_id = new_instance_id()

    async with aiohttp.ClientSession() as session:
        dispatch = Dispatch(session, td.url, "2023")
        await dispatch.run("random_dog", instance_id, {})
        await dispatch.run("random_dog", instance_id, {})
        await dispatch.follow("random_dog", instance_id)
        async with session.get(f"http://127.0.0.1:{metrics_port}/metrics") as response:
            text = await response.text()
    assert td.stop() == 0

    samples = parse_metrics(text)
    assert samples[("td_http_requests_total", "method=POST,route=/workflow/,status=201")] == 1
    assert samples[("td_http_requests_total", "method=POST,route=/workflow/,status=200")] == 1
    assert samples[("td_http_request_duration_seconds_count", "method=GET,route=/workflow/")] >= 1
    assert samples[("td_workflow_starts_total", "workflow=random_dog")] == 1
    assert samples[("td_workflow_start_repeats_total", "workflow=random_dog")] == 1
    final = ("td_workflow_final_states_total", "status=Completed,workflow=random_dog")
    assert samples[final] == 1
    assert samples[("td_upstream_requests_total", "outcome=success,service=dog.ceo")] == 2
    # The SDK's own worker metrics come from the same listener.
    assert any(name.startswith("temporal_workflow_completed") for name, _ in samples)


async def test_busy_metrics_port_exits_1(start_td, td_args):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        td = start_td([*td_args, f"-metrics=127.0.0.1:{port}"])
        exit_code = await asyncio.to_thread(td.process.wait, 30)

    assert exit_code == 1
    assert f"Serving metrics on 127.0.0.1:{port} failed" in td.log()
    assert "Traceback" not in td.log()


def parse_metrics(text: str) -> dict[tuple[str, str], float]:
    """Parse Prometheus text into {(name, "label=value,..."): value}, labels sorted by name."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, value = line.rsplit(" ", 1)
        name, _, labels = series.partition("{")
        pairs = sorted(
            pair.replace('"', "") for pair in labels.rstrip("}").split(",") if pair and "=" in pair
        )
        # Drop the attributes that the SDK adds to workflow and activity metrics.
        sdk_labels = ("namespace=", "task_queue=", "workflow_type=", "activity_type=")
        keep = [pair for pair in pairs if not pair.startswith(sdk_labels)]
        samples[(name, ",".join(keep))] = samples.get((name, ",".join(keep)), 0) + float(value)
    return samples


async def test_dev_server_dies_with_killed_td(start_td, dog_api):
    temporal_port = free_port()
    td = start_td(["-dev", f"-temporal=127.0.0.1:{temporal_port}", f"-dog-api={dog_api.base_url}"])
    await td.wait_ready(limit=90)

    td.process.send_signal(signal.SIGKILL)
    await asyncio.to_thread(td.process.wait, 30)

    for _ in range(150):
        try:
            socket.create_connection(("127.0.0.1", temporal_port), 0.2).close()
        except OSError:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the dev server outlived the td that started it")


async def test_malformed_request_never_logs_header(start_td, td_args):
    td = start_td(td_args)
    await td.wait_ready()

    for header in [b"Bearer TOPSECRET" + b"A" * 9000, b"Bearer TOPSECRET\x01"]:
        reader, writer = await asyncio.open_connection("127.0.0.1", td.port)
        writer.write(
            b"GET /workflow/ HTTP/1.1\r\nHost: td\r\nAuthorization: " + header + b"\r\n\r\n"
        )
        status_line = await asyncio.wait_for(reader.readline(), 10)
        writer.close()
        assert b" 400 " in status_line
    assert td.stop() == 0

    assert "Rejected a malformed HTTP request from 127.0.0.1" in td.log()
    assert "TOPSECRET" not in td.log()
    assert "Traceback" not in td.log()
