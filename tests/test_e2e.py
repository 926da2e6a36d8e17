"""The installed `td` command, driven the way each Dispatch generation drives it.

Every test starts td as a child process, against a real Temporal dev server and the stand-ins,
all on loopback.
"""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests import upstreams
from tests.dispatch_rules import check_answer, check_progression

TD = str(Path(sys.executable).parent / "td")
# The header Dispatch's plugin sends on every request, configured by the operator.
DISPATCH_HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer dispatch-token"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Td:
    """A td child process and the URL of its API."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/workflow/"
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            [TD, f"-api=127.0.0.1:{self.port}", *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
        )

    async def wait_ready(self, limit: float = 60.0) -> None:
        """Wait until the API answers from Temporal: 404 for an instance nobody started."""
        query = {"workflow_id": "random_dog", "workflow_instance_id": "2147483647"}
        deadline = asyncio.get_running_loop().time() + limit
        async with aiohttp.ClientSession() as session:
            while asyncio.get_running_loop().time() < deadline:
                assert self.process.poll() is None, f"td exited early:\n{self.log()}"
                try:
                    async with session.get(self.url, params=query) as response:
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
        self.process.kill()
        self.process.wait()
        self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def td_env(dog_api, unsplash_api, tmp_path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("TD_")}
    env.pop("TEMPORAL_ADDRESS", None)
    env.pop("TEMPORAL_NAMESPACE", None)
    env["UNSPLASH_ACCESS_KEY"] = upstreams.UNSPLASH_KEY
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    return env


@pytest.fixture
def td_args(dev_env, dog_api, unsplash_api) -> list[str]:
    target = dev_env.client.service_client.config.target_host
    return [
        f"-temporal={target}",
        f"-queue=e2e-{uuid.uuid4()}",
        "-step-delay=300ms",
        f"-dog-api={dog_api.base_url}",
        f"-unsplash-api={unsplash_api.base_url}",
    ]


@pytest.fixture
def start_td(td_env, tmp_path) -> Iterator:
    started: list[Td] = []

    def start(args: list[str], env: dict[str, str] | None = None) -> Td:
        td = Td(args, env or td_env, tmp_path / f"td-{len(started)}.log")
        started.append(td)
        return td

    yield start
    for td in started:
        if td.process.poll() is None:
            td.kill()


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


async def test_sigterm_exits_cleanly(start_td, td_args):
    td = start_td(td_args)
    await td.wait_ready()

    exit_code = td.stop(signal.SIGTERM)

    assert exit_code == 0
    assert "td stopped" in td.log()


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
    assert (tmp_path / "state" / "td" / "temporal-dev.db").is_file()


def test_unknown_flag_exits_2(td_env):
    result = subprocess.run([TD, "-nope"], env=td_env, capture_output=True, text=True, timeout=60)

    assert result.returncode == 2
    assert "flag provided but not defined: -nope" in result.stderr
    assert "Usage: td" in result.stderr


def test_help_exits_0(td_env):
    result = subprocess.run([TD, "-help"], env=td_env, capture_output=True, text=True, timeout=60)

    assert result.returncode == 0
    assert "-step-delay duration" in result.stdout


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
