"""Helpers that drive td's API in process, against a real Temporal server."""

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

import attrs
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from td.api import create_app
from td.config import Config
from td.temporal import TemporalConnection
from td.worker import create_http_session, create_worker
from td.workflows import load_definitions
from tests import upstreams
from tests.dispatch_rules import check_answer

DEFINITIONS = load_definitions()
STEP_DELAY = timedelta(0)

# Makes each test's instance ids differ from every other test's and run's.
_next_id = iter(range(uuid.uuid4().int % 1_000_000 * 1000 + 1, 2**31))


def new_instance_id() -> int:
    return next(_next_id)


@attrs.define
class Api:
    """A td API under test and the Temporal client behind it."""

    http: TestClient
    temporal: Client
    config: Config

    async def post(self, workflow_id: str, params: dict) -> tuple[int, dict]:
        response = await self.http.post(
            "/workflow/", json={"workflow_id": workflow_id, "params": params}
        )
        return response.status, await json_body(response)

    async def get(self, query: str, path: str = "/workflow/") -> tuple[int, dict]:
        response = await self.http.get(f"{path}?{query}")
        return response.status, await json_body(response)

    async def follow(self, query: str, until: tuple[str, ...] = ("Completed", "Failed")) -> list:
        """Poll as Dispatch does, only faster; return every answer up to a final one."""
        answers = []
        for _ in range(300):
            status, body = await self.get(query)
            assert status == 200, body
            check_answer(body)
            answers.append(body)
            if body["status"] in until:
                return answers
            await asyncio.sleep(0.05)
        raise AssertionError(f"no final status for {query}: {answers[-1]}")


async def json_body(response: ClientResponse) -> dict:
    assert response.content_type == "application/json", await response.text()
    return await response.json()


def make_api_factory(
    env: WorkflowEnvironment, dog: upstreams.StandIn, unsplash: upstreams.StandIn
) -> Callable[..., Awaitable[Api]]:
    target = env.client.service_client.config.target_host
    cleanups: list[Callable[[], Awaitable[None]]] = []

    async def make(
        *, worker: bool = True, connect: bool = True, definitions=None, **overrides
    ) -> Api:
        config = Config(
            temporal=target,
            queue=f"test-{uuid.uuid4()}",
            step_delay=STEP_DELAY,
            dog_api=dog.base_url,
            unsplash_api=unsplash.base_url,
            unsplash_access_key=upstreams.UNSPLASH_KEY,
        )
        config = attrs.evolve(config, **overrides)
        connection = TemporalConnection(config.temporal, config.namespace)
        if connect:
            await connection.connect()
        definitions = definitions or DEFINITIONS
        http = TestClient(TestServer(create_app(config, connection, definitions)))
        await http.start_server()
        cleanups.append(http.close)
        if worker:
            session = create_http_session()
            running = create_worker(env.client, config, definitions, session)
            task = asyncio.create_task(running.run())

            async def stop_worker() -> None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                await session.close()

            cleanups.append(stop_worker)
        return Api(http=http, temporal=env.client, config=config)

    make.cleanups = cleanups  # type: ignore[attr-defined]
    return make


def start_params(generation: str, instance_id: int, **user: str) -> dict:
    if generation == "2021":
        return {
            "incident_id": 32,
            "incident_name": "dispatch-default-default-32",
            "instance_id": instance_id,
            **user,
        }
    return {
        "externalRef": "https://dispatch.example/default/incidents/"
        "dispatch-default-default-32?project=default",
        "workflowInstanceId": str(instance_id) if generation == "2022-string" else instance_id,
        **user,
    }


def follow_query(generation: str, workflow_id: str, instance_id: int) -> str:
    if generation == "2021":
        return (
            f"workflow_id={workflow_id}&workflow_instance_id={instance_id}"
            "&incident_id=32&incident_name=dispatch-default-default-32"
        )
    if generation == "2022":
        return (
            f"workflow_id={workflow_id}&workflow_instance_id={instance_id}"
            f"&tags=workflowInstanceId:{instance_id}"
        )
    return (
        f"workflow_id={workflow_id}&tags=workflowId:{workflow_id}"
        f"&tags=workflowInstanceId:{instance_id}"
    )
