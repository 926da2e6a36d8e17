"""td across Temporal outages: down when td starts, and restarted while workflows run."""

import asyncio
import socket
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest

from tests import upstreams
from tests.processes import (
    DISPATCH_HEADERS,
    Dispatch,
    free_port,
    new_instance_id,
    without_temporal_flag,
)


class DevServerProcess:
    """`temporal server start-dev` with its data in a file, so a restart keeps the executions."""

    def __init__(self, temporal_cli: str, port: int, database: Path) -> None:
        self.temporal_cli = temporal_cli
        self.port = port
        self.database = database
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.temporal_cli, "server", "start-dev", "--headless",
                "--ip", "127.0.0.1", "--port", str(self.port),
                "--db-filename", str(self.database), "--log-level", "error",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(20)
        # The port must be free before the server starts again on it.
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.1).close()
            except OSError:
                return
            time.sleep(0.1)


@pytest.fixture
def dev_server(temporal_cli, tmp_path):
    server = DevServerProcess(temporal_cli, free_port(), tmp_path / "temporal.db")
    yield server
    server.stop()


async def poll_once(url: str) -> tuple[int, dict, dict]:
    query = {"workflow_id": "random_dog", "workflow_instance_id": "5"}
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, params=query, headers=DISPATCH_HEADERS) as response,
    ):
        return response.status, dict(response.headers), await response.json()


async def test_temporal_down_at_start(start_td, td_args, dev_server):
    args = [*without_temporal_flag(td_args), f"-temporal=127.0.0.1:{dev_server.port}"]
    td = start_td(args)
    for _ in range(100):
        try:
            status, headers, body = await poll_once(td.url)
            break
        except aiohttp.ClientConnectionError:
            await asyncio.sleep(0.1)

    assert status == 503
    assert int(headers["Retry-After"]) > 0
    assert body["artifacts"] == []

    dev_server.start()
    await td.wait_ready(limit=60)
    instance_id = new_instance_id()
    async with aiohttp.ClientSession() as session:
        dispatch = Dispatch(session, td.url, "2023")
        await dispatch.run("random_dog", instance_id, {})
        answers = await dispatch.follow("random_dog", instance_id)

    assert answers[-1]["status"] == "Completed"
    assert td.stop() == 0
    assert "retrying in" in td.log()


async def test_temporal_restart_mid_workflow(start_td, td_args, dev_server):
    dev_server.start()
    args = [
        *without_temporal_flag(td_args),
        f"-temporal=127.0.0.1:{dev_server.port}",
        "-step-delay=3s",
    ]
    td = start_td(args)
    await td.wait_ready(limit=60)
    instance_id = new_instance_id()

    async with aiohttp.ClientSession() as session:
        dispatch = Dispatch(session, td.url, "2023")
        await dispatch.run("random_dog", instance_id, {})
        dev_server.stop()
        status, down = await dispatch.poll("random_dog", instance_id)
        assert status == 503
        assert down["artifacts"] == []

        dev_server.start()
        answers = await dispatch.follow("random_dog", instance_id, limit=120)

    final = answers[-1]
    assert final["status"] == "Completed"
    assert [artifact["name"] for artifact in final["artifacts"]] == ["Dog 1", "Dog 2"]
    assert td.stop() == 0


async def test_sigterm_without_temporal_exits_in_time(start_td, td_args, dog_api, dev_server):
    dev_server.start()
    args = [*without_temporal_flag(td_args), f"-temporal=127.0.0.1:{dev_server.port}"]
    # The next dog.ceo request hangs, so an activity is running when td stops.
    dog_api.faults.append(upstreams.Fault(status=200, delay=10))
    td = start_td([*args, "-step-delay=0s"])
    await td.wait_ready(limit=60)
    async with aiohttp.ClientSession() as session:
        await Dispatch(session, td.url, "2023").run("random_dog", new_instance_id(), {})
    await asyncio.sleep(1)

    dev_server.process.kill()
    dev_server.process.wait()
    started = time.monotonic()
    exit_code = await asyncio.to_thread(td.stop)
    elapsed = time.monotonic() - started

    assert exit_code == 0
    # The contract is 10 s. The margin is for starting and ending the process on a busy machine.
    assert elapsed < 12, f"td took {elapsed:.1f} s to stop:\n{td.log()}"
