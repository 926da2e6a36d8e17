"""`td run`: start and follow a workflow through a running td, as Dispatch would."""

import asyncio
import contextlib
import os
import pty
import subprocess
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from tests import upstreams
from tests.processes import DISPATCH_HEADERS, TD


async def run_command(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        TD, "run", *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode, stdout.decode(), stderr.decode()


@contextlib.asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """Serve `app` on loopback in place of td, and yield its base URL."""
    state = upstreams.StandIn()
    runner = await upstreams.start(app, state)
    try:
        yield state.base_url
    finally:
        await runner.cleanup()


@pytest.fixture
async def td_server(start_td, td_args, td_env):
    env = {**td_env, "TD_AUTH": DISPATCH_HEADERS["Authorization"]}
    td = start_td([*td_args, "-step-delay=200ms"], env)
    await td.wait_ready()
    yield td, env
    assert td.stop() == 0


async def test_run_completes_and_lists_artifacts(td_server):
    td, env = td_server

    code, stdout, stderr = await run_command(
        ["random_dog", "-param", "breed=hound", f"-server={td.url}", "-poll=100ms"], env
    )

    lines = stdout.splitlines()
    assert code == 0, stderr
    assert lines[0].startswith("Started random_dog-")
    assert "Created" in lines or "Running" in lines
    assert any(line.startswith("Dog 1: https://images.dog.ceo/") for line in lines)
    assert any(line.startswith("Dog 2: https://images.dog.ceo/") for line in lines)
    assert lines[-1].startswith("Completed in ")
    assert "Completed" not in lines
    first_dog = next(line for line in lines if line.startswith("Dog 1"))
    assert lines.index("Running") < lines.index(first_dog)
    assert "\r" not in stdout


async def test_run_takes_base_url(td_server):
    td, env = td_server
    base_url = td.url.removesuffix("/workflow/")

    code, stdout, stderr = await run_command(["random_dog", f"-server={base_url}"], env)

    assert code == 0, stderr
    assert stdout.splitlines()[-1].startswith("Completed in ")


async def test_run_failed_exits_1(td_server):
    td, env = td_server

    code, stdout, _ = await run_command(
        ["random_dog", "-param=breed=wolf", f"-server={td.url}", "-poll=100ms"], env
    )

    assert code == 1
    assert "Failed after" in stdout
    assert "breed 'wolf' not found" in stdout


async def test_run_rejected_param_exits_1(td_server):
    td, env = td_server

    code, _, stderr = await run_command(
        ["random_dog", "-param", "breed=Not A Breed", f"-server={td.url}"], env
    )

    assert code == 1
    assert "td responded with HTTP 400" in stderr
    assert "params.breed" in stderr


async def test_run_warns_about_unknown_param(td_server):
    td, env = td_server

    code, _, stderr = await run_command(
        ["random_dog", "-param", "colour=red", f"-server={td.url}", "-poll=100ms"], env
    )

    assert code == 0
    assert "random_dog has no parameter 'colour', so td ignores it; its parameters: breed" in stderr


async def test_run_into_closed_pipe_is_quiet(td_server):
    td, env = td_server
    command = f"{TD} run random_dog -server={td.url} -poll=100ms | head -1"

    process = await asyncio.create_subprocess_shell(
        command, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 120)

    assert stdout.decode().startswith("Started random_dog-")
    assert "Traceback" not in stderr.decode()


async def test_run_without_secret_exits_1(td_server):
    td, env = td_server
    env = {key: value for key, value in env.items() if key != "TD_AUTH"}

    code, _, stderr = await run_command(["random_dog", f"-server={td.url}"], env)

    assert code == 1
    assert "401" in stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "the workflow to run is missing"),
        (["random_dog", "-param", "novalue"], "expected key=value"),
        (["random_dog", "-poll=0s"], "must be more than 0s"),
        (["random_dog", "-nope"], "flag provided but not defined"),
        (["random_dog", "-server=localhost:8888"], "is not an http(s) URL"),
    ],
)
async def test_run_usage_errors_exit_2(td_env, args, message):
    code, _, stderr = await run_command(args, td_env)

    assert code == 2
    assert message in stderr


async def test_run_on_terminal_shows_progress(td_server):
    td, env = td_server
    controller, terminal = pty.openpty()

    process = subprocess.Popen(  # noqa: ASYNC220 - a pty needs Popen; it returns at once
        [TD, "run", "random_dog", f"-server={td.url}", "-poll=300ms"],
        env=env,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
    )
    os.close(terminal)
    output = b""
    while True:
        try:
            chunk = await asyncio.to_thread(os.read, controller, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    code = await asyncio.to_thread(process.wait, 60)
    os.close(controller)

    text = output.decode(errors="replace")
    assert code == 0, text
    assert "\r\x1b[K" in text
    assert "Completed in " in text


async def test_run_survives_hostile_server(td_env):
    async def catalogue(request: web.Request) -> web.Response:
        return web.json_response([1, 2])

    async def start(request: web.Request) -> web.Response:
        answer = {
            "status": "Failed",
            "resource_id": "random_dog-1\x1b[2J",
            "artifacts": [{"name": "\x1b]0;pwned\x07", "resource_id": "a", "weblink": "b"}, 3],
            "error": "broken\x1b[2J",
        }
        return web.json_response(answer, status=201)

    app = web.Application()
    app.router.add_get("/workflows", catalogue)
    app.router.add_post("/workflow/", start)
    async with serving(app) as url:
        code, stdout, stderr = await run_command(
            ["random_dog", "-param=x=y", f"-server={url}"], td_env
        )

    assert code == 1
    assert "Failed after" in stdout
    assert "\x1b" not in stdout
    assert "\\x1b" in stdout
    assert "Traceback" not in stderr


async def test_run_gives_up_on_lasting_503(td_env):
    async def unavailable(request: web.Request) -> web.Response:
        body = {"error": "not connected to Temporal", "artifacts": []}
        return web.json_response(body, status=503, headers={"Retry-After": "0"})

    app = web.Application()
    app.router.add_route("*", "/{path:.*}", unavailable)
    async with serving(app) as url:
        # -timeout bounds the retries too, so this ends in 2 s, not a minute.
        code, stdout, stderr = await run_command(
            ["random_dog", f"-server={url}", "-poll=100ms", "-timeout=2s"], td_env
        )

    assert code == 1
    assert "td run: td responded with HTTP 503" in stdout
    assert "td responded with HTTP 503 to POST: not connected to Temporal" in stderr


@pytest.mark.parametrize(
    "answer",
    [
        lambda: web.Response(status=201, body=b"\xff\xfe\x00garbage"),
        lambda: web.Response(status=201, body=b"[" * 200_000),
        lambda: web.json_response(
            {"status": "Running", "artifacts": [{"resource_id": []}]}, status=201
        ),
        lambda: web.json_response(
            {"error": "down"}, status=503, headers={"Retry-After": "9" * 400}
        ),
        lambda: web.Response(status=201, body=b" " * (2 * 1024 * 1024)),
    ],
    ids=["not-utf8", "deep-json", "list-resource-id", "huge-retry-after", "huge-body"],
)
async def test_run_odd_answers_exit_1(td_env, answer):
    async def respond(request: web.Request) -> web.Response:
        return answer()

    app = web.Application()
    app.router.add_route("*", "/{path:.*}", respond)
    async with serving(app) as url:
        code, _, stderr = await run_command(
            ["random_dog", f"-server={url}", "-poll=100ms", "-timeout=2s"], td_env
        )

    assert code == 1
    assert "Traceback" not in stderr
