"""Property-based tests: whatever a caller sends, td answers JSON that Dispatch can act on.

Hypothesis generates POST bodies and GET query strings, near-valid and wild. The API runs in
process on an event loop of its own thread, against the session's Temporal dev server.
"""

import asyncio
import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from td.api import create_app
from td.config import Config
from td.converter import data_converter
from td.temporal import TemporalConnection
from td.workflows import load_definitions

WORKFLOW_IDS = ["random_dog", "random_unsplash", "random_cat", "", "RANDOM_DOG", "random_dog-1"]
INSTANCE_KEYS = ["workflowInstanceId", "instance_id"]


class ApiThread:
    """td's API and a Temporal client on an event loop in a thread of their own."""

    def __init__(self, target: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.started: set[str] = set()
        self.run(self._start(target))

    def run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(60)

    async def _start(self, target: str) -> None:
        config = Config(temporal=target, queue=f"properties-{uuid.uuid4()}", worker=False)
        connection = TemporalConnection(config.temporal, config.namespace)
        await connection.connect()
        self.temporal = await Client.connect(target, data_converter=data_converter)
        self.server = TestServer(create_app(config, connection, load_definitions()))
        await self.server.start_server()
        self.session = ClientSession()

    async def request(self, method: str, path: str, body: bytes | None = None) -> tuple:
        url = self.server.make_url(path)
        async with self.session.request(method, url, data=body) as response:
            return response.status, response.content_type, await response.read()

    async def execution_exists(self, workflow_id: str) -> bool:
        try:
            await self.temporal.get_workflow_handle(workflow_id).describe()
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return True

    def close(self) -> None:
        async def stop() -> None:
            await self.session.close()
            await self.server.close()

        self.run(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def api_thread(dev_env) -> Iterator[ApiThread]:
    api = ApiThread(dev_env.client.service_client.config.target_host)
    yield api
    api.close()


json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
instance_ids = (
    st.integers(min_value=-5, max_value=2**40)
    | st.integers(min_value=1, max_value=2**31 - 1).map(str)
    | st.sampled_from(["", "0", "-1", "1.0", "1e3", " 7", "٣", "0x10", "9" * 40])
    | json_scalars
)
user_values = (
    st.text(max_size=40)
    | st.sampled_from(
        ["hound", "hound/afghan", "../../etc", "hound/../x", "%2e%2e", "a" * 3000, "Hound"]
    )
    | json_values
)
param_dicts = st.fixed_dictionaries(
    {},
    optional={
        "workflowInstanceId": instance_ids,
        "instance_id": instance_ids,
        "externalRef": st.text(max_size=30) | json_scalars,
        "incident_id": instance_ids,
        "incident_name": st.text(max_size=20) | json_scalars,
        "breed": user_values,
        "term": user_values,
    },
) | st.dictionaries(st.text(max_size=10), json_values, max_size=6)
near_valid_bodies = st.fixed_dictionaries(
    {"workflow_id": st.sampled_from(WORKFLOW_IDS) | json_scalars, "params": param_dicts}
)
raw_bodies = (
    near_valid_bodies.map(lambda body: json.dumps(body).encode())
    | json_values.map(lambda value: json.dumps(value).encode())
    | st.binary(max_size=200)
    | st.sampled_from([b"", b"{", b"null", b'{"workflow_id": NaN}', b"\xff\xfe", b"[]" * 10])
)


def check_answer(status: int, content_type: str, raw: bytes) -> dict:
    assert status < 500 or status == 503, (status, raw[:300])
    assert content_type == "application/json", (status, content_type, raw[:300])
    body = json.loads(raw)
    assert isinstance(body, dict), body
    assert isinstance(body.get("artifacts"), list), body
    if status >= 400:
        assert isinstance(body.get("error"), str), body
        assert body["error"], body
    return body


def workflow_id_of(body: bytes) -> str | None:
    """The Temporal workflow id that a request could start, if its body names one."""
    try:
        request = json.loads(body)
        params = request["params"]
        workflow = request["workflow_id"]
        for key in INSTANCE_KEYS:
            value = params.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
                if float(value).is_integer():
                    return f"{workflow}-{int(value)}"
            if isinstance(value, str) and value.isascii() and value.isdigit():
                return f"{workflow}-{int(value)}"
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    return None


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=raw_bodies)
def test_post_answers_json(api_thread, body):
    status, content_type, raw = api_thread.run(api_thread.request("POST", "/workflow/", body))

    answer = check_answer(status, content_type, raw)

    workflow_id = workflow_id_of(body)
    if status in (200, 201):
        assert answer["resource_id"] == workflow_id
        api_thread.started.add(answer["resource_id"])
    elif workflow_id is not None and workflow_id not in api_thread.started:
        # A rejected request starts nothing.
        assert not api_thread.run(api_thread.execution_exists(workflow_id)), (body, answer)


query_values = st.text(max_size=15) | st.integers(min_value=-3, max_value=2**35).map(str)
query_pairs = st.lists(
    st.tuples(
        st.sampled_from(["workflow_id", "workflow_instance_id", "tags", "incident_id", "x"]),
        query_values
        | st.sampled_from(WORKFLOW_IDS)
        | query_values.map(lambda v: f"workflowInstanceId:{v}")
        | st.sampled_from(WORKFLOW_IDS).map(lambda v: f"workflowId:{v}"),
    ),
    max_size=6,
)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(pairs=query_pairs)
def test_get_answers_json(api_thread, pairs):
    path = "/workflow/?" + urlencode(pairs)

    status, content_type, raw = api_thread.run(api_thread.request("GET", path))

    answer = check_answer(status, content_type, raw)
    if status == 404 and answer.get("field") == "workflow_instance_id":
        assert answer["status"] == "Failed"


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    method=st.sampled_from(["PUT", "DELETE", "PATCH", "OPTIONS", "POST", "GET"]),
    path=st.sampled_from(["/workflow", "/workflow/", "/workflow//", "/WORKFLOW", "/", "/x?y"]),
)
def test_any_method_and_path_answers_json(api_thread, method, path):
    status, content_type, raw = api_thread.run(api_thread.request(method, path, b"{}"))

    check_answer(status, content_type, raw)
