"""Helpers that run the `td` command as a child process and speak to it as Dispatch does."""

import asyncio
import os
import signal
import socket
import ssl
import subprocess
import sys
import uuid
from pathlib import Path

import aiohttp

from tests.dispatch_rules import check_answer

TD = str(Path(sys.executable).parent / "td")
# The header Dispatch's plugin sends on every request, configured by the operator.
DISPATCH_HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer dispatch-token"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def without_temporal_flag(args: list[str]) -> list[str]:
    """Return td's arguments without -temporal, for a test that points td elsewhere."""
    return [arg for arg in args if not arg.startswith("-temporal=")]


class Td:
    """A td child process and the URL of its API."""

    def __init__(
        self,
        args: list[str],
        env: dict[str, str],
        log_path: Path,
        client_tls: ssl.SSLContext | None = None,
        command: str = TD,
    ) -> None:
        self.port = free_port()
        # With client_tls, td serves HTTPS and the tests' clients trust the test CA.
        self.client_tls = client_tls
        scheme = "https" if client_tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}/workflow/"
        self.log_path = log_path
        self._log = log_path.open("ab")
        # td runs in a session of its own so that kill() reaches all of its processes. A PyInstaller
        # binary runs td in a child process, and -dev adds the Temporal dev server.
        self.process = subprocess.Popen(
            [command, f"-api=127.0.0.1:{self.port}", *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            start_new_session=True,
        )

    async def wait_ready(self, limit: float = 60.0) -> None:
        """Wait until the API answers from Temporal: 404 for an instance nobody started."""
        query = {"workflow_id": "random_dog", "workflow_instance_id": "2147483647"}
        deadline = asyncio.get_running_loop().time() + limit
        async with aiohttp.ClientSession() as session:
            while asyncio.get_running_loop().time() < deadline:
                assert self.process.poll() is None, f"td exited early:\n{self.log()}"
                try:
                    async with session.get(
                        self.url,
                        params=query,
                        headers=DISPATCH_HEADERS,
                        ssl=self.client_tls or True,
                    ) as response:
                        if response.status == 404:
                            return
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"td was not ready in {limit} s:\n{self.log()}")

    def stop(self, signal_number: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal_number)
        try:
            return self.process.wait(timeout)
        finally:
            self._log.close()

    def kill(self) -> None:
        """Send SIGKILL to td's whole process group."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()
        self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class Dispatch:
    """Speaks to td as one Dispatch generation's Generic Workflow Plugin does."""

    def __init__(self, session: aiohttp.ClientSession, url: str, generation: str) -> None:
        self.session = session
        self.url = url
        self.generation = generation

    async def run(self, workflow_id: str, instance_id: int, user_params: dict) -> dict:
        params = dict(user_params)
        if self.generation == "2021":
            params.update(incident_id=32, incident_name="dispatch-default-default-32")
            params["instance_id"] = instance_id
        else:
            params["externalRef"] = (
                "https://dispatch.example/default/incidents/dispatch-default-default-32"
                "?project=default"
            )
            params["workflowInstanceId"] = instance_id
        body = {"workflow_id": workflow_id, "params": params}
        async with self.session.post(self.url, json=body, headers=DISPATCH_HEADERS) as response:
            return await response.json()

    async def poll(self, workflow_id: str, instance_id: int) -> tuple[int, dict]:
        if self.generation == "2021":
            query = [
                ("workflow_id", workflow_id),
                ("workflow_instance_id", str(instance_id)),
                ("incident_id", "32"),
                ("incident_name", "dispatch-default-default-32"),
            ]
        elif self.generation == "2022":
            query = [
                ("workflow_id", workflow_id),
                ("workflow_instance_id", str(instance_id)),
                ("tags", f"workflowInstanceId:{instance_id}"),
            ]
        else:
            query = [
                ("workflow_id", workflow_id),
                ("tags", f"workflowId:{workflow_id}"),
                ("tags", f"workflowInstanceId:{instance_id}"),
            ]
        async with self.session.get(self.url, params=query, headers=DISPATCH_HEADERS) as response:
            return response.status, await response.json()

    async def follow(self, workflow_id: str, instance_id: int, limit: float = 60.0) -> list:
        answers = []
        deadline = asyncio.get_running_loop().time() + limit
        while asyncio.get_running_loop().time() < deadline:
            status, body = await self.poll(workflow_id, instance_id)
            assert status == 200, body
            check_answer(body)
            answers.append(body)
            if body["status"] in ("Completed", "Failed"):
                return answers
            await asyncio.sleep(0.1)
        raise AssertionError(f"{workflow_id}-{instance_id} did not finish: {answers[-1]}")


def new_instance_id() -> int:
    return uuid.uuid4().int % (2**31 - 2) + 1
