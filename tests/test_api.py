"""The HTTP API against a real Temporal dev server, with the worker running in the test."""

import asyncio
import json

import pytest
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from tests.dispatch_rules import check_answer, check_progression
from tests.harness import (
    Api,
    follow_query,
    json_body,
    make_api_factory,
    new_instance_id,
    start_params,
)


@pytest.fixture
async def api(make_api) -> Api:
    return await make_api()


@pytest.mark.parametrize(
    ("start_shape", "follow_shape"),
    [("2021", "2021"), ("2022", "2022"), ("2022-string", "2023"), ("2022", "2023")],
)
@pytest.mark.parametrize(
    ("workflow_id", "user_params", "label"),
    [("random_dog", {"breed": "hound"}, "Dog"), ("random_unsplash", {"term": "love"}, "Photo")],
)
async def test_dispatch_generations_complete(
    api, start_shape, follow_shape, workflow_id, user_params, label
):
    instance_id = new_instance_id()

    status, created = await api.post(
        workflow_id, start_params(start_shape, instance_id, **user_params)
    )

    assert status == 201
    check_answer(created)
    assert created["status"] == "Created"
    assert created["resource_id"] == f"{workflow_id}-{instance_id}"
    answers = await api.follow(follow_query(follow_shape, workflow_id, instance_id))
    final = answers[-1]
    assert final["status"] == "Completed"
    assert [artifact["name"] for artifact in final["artifacts"]] == [f"{label} 1", f"{label} 2"]
    assert final["resource_id"] == created["resource_id"]
    check_progression([created["status"], *(answer["status"] for answer in answers)])


async def test_artifacts_stable_across_polls(api):
    instance_id = new_instance_id()
    await api.post("random_dog", start_params("2022", instance_id))
    query = follow_query("2023", "random_dog", instance_id)

    answers = await api.follow(query)
    _, again = await api.get(query)

    seen: dict[str, dict] = {}
    for answer in [*answers, again]:
        for artifact in answer["artifacts"]:
            seen.setdefault(artifact["resource_id"], artifact)
            assert seen[artifact["resource_id"]] == artifact
    assert again == answers[-1]
    assert len(seen) == 2


async def test_external_ref_kept_in_memo(api):
    instance_id = new_instance_id()
    params = start_params("2022", instance_id)

    await api.post("random_dog", params)

    handle = api.temporal.get_workflow_handle(f"random_dog-{instance_id}")
    description = await handle.describe()
    assert await description.memo_value("externalRef") == params["externalRef"]


async def test_legacy_incident_kept_in_memo(api):
    instance_id = new_instance_id()

    await api.post("random_dog", start_params("2021", instance_id))

    handle = api.temporal.get_workflow_handle(f"random_dog-{instance_id}")
    description = await handle.describe()
    assert await description.memo_value("incident_id") == 32
    assert await description.memo_value("incident_name") == "dispatch-default-default-32"


async def test_repeated_post_starts_once(api):
    instance_id = new_instance_id()
    params = start_params("2022", instance_id)

    first_status, first = await api.post("random_dog", params)
    second_status, second = await api.post("random_dog", params)

    assert first_status == 201
    assert second_status == 200
    check_answer(second)
    assert second["weblink"] == first["weblink"]
    assert second["resource_id"] == first["resource_id"]


async def test_concurrent_posts_start_once(api):
    instance_id = new_instance_id()
    params = start_params("2022", instance_id)

    results = await asyncio.gather(*(api.post("random_dog", params) for _ in range(10)))

    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * 9 + [201]
    assert len({body["weblink"] for _, body in results}) == 1


async def test_post_after_completion_reports_it(api):
    instance_id = new_instance_id()
    params = start_params("2022", instance_id)
    await api.post("random_dog", params)
    await api.follow(follow_query("2023", "random_dog", instance_id))

    status, body = await api.post("random_dog", params)

    assert status == 200
    assert body["status"] == "Completed"
    assert len(body["artifacts"]) == 2


async def test_failed_instance_answers_failed(api):
    instance_id = new_instance_id()
    await api.post("random_dog", start_params("2022", instance_id, breed="wolf"))

    answers = await api.follow(follow_query("2023", "random_dog", instance_id))

    assert answers[-1]["status"] == "Failed"
    assert "breed 'wolf' not found" in answers[-1]["error"]


async def test_terminated_instance_answers_failed(api):
    instance_id = new_instance_id()
    await api.post("random_dog", start_params("2022", instance_id))
    handle = api.temporal.get_workflow_handle(f"random_dog-{instance_id}")

    await handle.terminate(reason="stopped by an operator")
    status, body = await api.get(follow_query("2023", "random_dog", instance_id))

    assert status == 200
    check_answer(body)
    assert body["status"] == "Failed"
    assert "stopped by an operator" in body["error"]


async def test_unknown_instance_answers_failed_404(api):
    status, body = await api.get(follow_query("2023", "random_dog", new_instance_id()))

    assert status == 404
    check_answer(body, complete=False)
    assert body["status"] == "Failed"
    assert body["artifacts"] == []
    assert "error" in body


async def test_unknown_workflow_get_answers_404(api):
    status, body = await api.get("workflow_id=random_cat&tags=workflowInstanceId:5")

    assert status == 404
    check_answer(body, complete=False)
    assert body["status"] == "Failed"
    assert "random_cat" in body["error"]
    assert body["field"] == "workflow_id"


async def test_unknown_workflow_post_answers_404(api):
    instance_id = new_instance_id()

    status, body = await api.post("random_cat", start_params("2022", instance_id))

    assert status == 404
    assert "random_cat" in body["error"]
    assert body["artifacts"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("{", "body"),
        ("[1, 2]", "body"),
        ('"text"', "body"),
        ('{"workflow_id": "random_dog", "params": {"workflowInstanceId": NaN}}', "body"),
        ('{"params": {"workflowInstanceId": 1}}', "workflow_id"),
        ('{"workflow_id": 7, "params": {"workflowInstanceId": 1}}', "workflow_id"),
        ('{"workflow_id": "random_dog"}', "params"),
        ('{"workflow_id": "random_dog", "params": []}', "params"),
        ('{"workflow_id": "random_dog", "params": {}}', "params.workflowInstanceId"),
        (
            '{"workflow_id": "random_dog", "params": {"workflowInstanceId": "4x"}}',
            "params.workflowInstanceId",
        ),
        (
            '{"workflow_id": "random_dog", "params": {"workflowInstanceId": -4}}',
            "params.workflowInstanceId",
        ),
        (
            '{"workflow_id": "random_dog", "params": {"workflowInstanceId": 1.5}}',
            "params.workflowInstanceId",
        ),
        (
            '{"workflow_id": "random_dog", "params": {"workflowInstanceId": 9, "breed": 5}}',
            "params.breed",
        ),
        (
            '{"workflow_id": "random_dog", "params": {"workflowInstanceId": 9, "breed": "../x"}}',
            "params.breed",
        ),
        (
            '{"workflow_id": "random_unsplash", "params": {"workflowInstanceId": 9, "term": [1]}}',
            "params.term",
        ),
    ],
)
async def test_bad_post_answers_400(api, body, field):
    response = await api.http.post("/workflow", data=body)

    answer = await json_body(response)
    assert response.status == 400
    assert answer["field"] == field
    assert answer["artifacts"] == []
    assert answer["error"]


async def test_rejected_post_starts_nothing(api):
    instance_id = new_instance_id()

    status, _ = await api.post("random_dog", start_params("2022", instance_id, breed="Not A Breed"))

    assert status == 400
    handle = api.temporal.get_workflow_handle(f"random_dog-{instance_id}")
    with pytest.raises(RPCError):
        await handle.describe()


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("tags=workflowInstanceId:5", "workflow_id"),
        ("workflow_id=random_dog", "workflow_instance_id"),
        ("workflow_id=random_dog&workflow_instance_id=abc", "workflow_instance_id"),
        ("workflow_id=random_dog&tags=workflowInstanceId:", "tags.workflowInstanceId"),
        (
            "workflow_id=random_dog&workflow_instance_id=5&tags=workflowInstanceId:6",
            "workflow_instance_id",
        ),
        (
            "workflow_id=random_dog&tags=workflowId:random_unsplash&tags=workflowInstanceId:5",
            "workflow_id",
        ),
    ],
)
async def test_bad_get_answers_400(api, query, field):
    status, body = await api.get(query)

    assert status == 400
    check_answer(body, complete=False)
    assert body["field"] == field


async def test_unknown_params_are_ignored(api):
    instance_id = new_instance_id()

    status, _ = await api.post(
        "random_dog", start_params("2022", instance_id, colour="brown", breed="")
    )

    assert status == 201
    answers = await api.follow(follow_query("2023", "random_dog", instance_id))
    assert answers[-1]["status"] == "Completed"


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
async def test_other_methods_answer_405(api, method):
    response = await api.http.request(method, "/workflow/")

    body = await json_body(response)
    assert response.status == 405
    assert "GET" in response.headers["Allow"]
    assert "POST" in response.headers["Allow"]
    assert body["artifacts"] == []


async def test_both_paths_without_redirect(api):
    for path in ("/workflow", "/workflow/"):
        response = await api.http.post(
            path,
            json={"workflow_id": "random_dog", "params": {"workflowInstanceId": new_instance_id()}},
            allow_redirects=False,
        )
        assert response.status == 201, path


async def test_unknown_path_answers_json_404(api):
    status, body = await api.get("x=1", path="/nothing")

    assert status == 404
    assert body["artifacts"] == []


async def test_large_body_answers_413(api):
    body = json.dumps({"workflow_id": "random_dog", "params": {"pad": "x" * 70_000}})

    response = await api.http.post("/workflow", data=body)

    answer = await json_body(response)
    assert response.status == 413
    assert answer["artifacts"] == []
    assert answer["field"] == "body"
    assert "over 64 KiB" in answer["error"]


async def test_weblink_points_at_ui(make_api):
    api = await make_api(ui="http://temporal-ui.example:8233")
    instance_id = new_instance_id()

    _, body = await api.post("random_dog", start_params("2022", instance_id))

    prefix = (
        f"http://temporal-ui.example:8233/namespaces/default/workflows/random_dog-{instance_id}/"
    )
    assert body["weblink"].startswith(prefix)
    assert body["weblink"].endswith("/history")


async def test_weblink_without_ui_is_site(api):
    _, dog = await api.post("random_dog", start_params("2022", new_instance_id()))
    _, photo = await api.post("random_unsplash", start_params("2022", new_instance_id()))

    assert dog["weblink"] == "https://dog.ceo/"
    assert photo["weblink"] == "https://unsplash.com/"


async def test_get_right_without_worker(make_api):
    api_only = await make_api(worker=False)
    instance_id = new_instance_id()
    await api_only.post("random_dog", start_params("2022", instance_id))
    query = follow_query("2023", "random_dog", instance_id)

    status, waiting = await api_only.get(query)
    assert status == 200
    assert waiting["status"] == "Created"

    # A worker on the same task queue runs the instance, then goes away again.
    await make_api(queue=api_only.config.queue)
    answers = await api_only.follow(query)
    assert answers[-1]["status"] == "Completed"
    assert len(answers[-1]["artifacts"]) == 2


async def test_unconnected_answers_503(make_api):
    api = await make_api(worker=False, connect=False, temporal="127.0.0.1:1")

    get_status, get_body = await api.get(follow_query("2023", "random_dog", 5))
    response = await api.http.post(
        "/workflow", json={"workflow_id": "random_dog", "params": {"workflowInstanceId": 5}}
    )

    assert get_status == 503
    check_answer(get_body, complete=False)
    assert "127.0.0.1:1" in get_body["error"]
    assert response.status == 503
    assert int(response.headers["Retry-After"]) > 0


async def test_temporal_outage_answers_503(temporal_cli, dog_api, unsplash_api):
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=temporal_cli)
    make = make_api_factory(env, dog_api, unsplash_api)
    try:
        api = await make(worker=False)
        instance_id = new_instance_id()
        status, _ = await api.post("random_dog", start_params("2022", instance_id))
        assert status == 201

        await env.shutdown()
        status, body = await api.get(follow_query("2023", "random_dog", instance_id))
    finally:
        for cleanup in reversed(make.cleanups):
            await cleanup()

    assert status == 503
    check_answer(body, complete=False)


async def test_healthz_answers_ok(api):
    response = await api.http.get("/healthz")

    assert response.status == 200
    assert await response.json() == {"status": "ok"}


async def test_readyz_ready_when_connected(api):
    response = await api.http.get("/readyz")

    assert response.status == 200
    assert (await response.json())["status"] == "ready"


async def test_readyz_not_ready_unconnected(make_api):
    api = await make_api(worker=False, connect=False, temporal="127.0.0.1:1")

    response = await api.http.get("/readyz")

    body = await response.json()
    assert response.status == 503
    assert body["status"] == "not ready"
    assert "127.0.0.1:1" in body["reasons"][0]


async def test_readyz_not_ready_without_namespace(dev_env):
    from aiohttp.test_utils import TestClient, TestServer

    from td.api import create_app
    from td.config import Config
    from td.temporal import TemporalConnection
    from td.workflows import load_definitions

    target = dev_env.client.service_client.config.target_host
    connection = TemporalConnection(target, "default")
    await connection.connect()
    # As if the namespace were deleted after td connected.
    connection.namespace = "no-such-namespace"
    app = create_app(Config(temporal=target, worker=False), connection, load_definitions())

    async with TestClient(TestServer(app)) as http:
        response = await http.get("/readyz")
        body = await response.json()

    assert response.status == 503
    assert "no-such-namespace" in body["reasons"][0]


@pytest.mark.parametrize(
    ("body", "headers", "message"),
    [
        ("[" * 5000 + "]" * 5000, {}, "nested too deeply"),
        ("{}", {"Content-Type": "application/json; charset=bogus"}, "unsupported charset"),
        ("{}", {"Content-Type": "application/json; charset=punycode"}, "unsupported charset"),
        ("{}", {"Content-Type": "application/json; charset=undefined"}, "unsupported charset"),
        (b"\xff\xfe{}", {}, "not valid UTF-8"),
        (b"not gzip at all", {"Content-Encoding": "gzip"}, "could not be read"),
    ],
    ids=["deep", "charset", "punycode", "undefined", "not-utf8", "broken-gzip"],
)
async def test_unreadable_body_answers_400(api, body, headers, message):
    response = await api.http.post("/workflow/", data=body, headers=headers)

    answer = await json_body(response)
    assert response.status == 400
    assert message in answer["error"]
    assert answer["field"] == "body"


async def test_control_characters_in_param_answer_400(api):
    for value in ["love\u0000", "\ud800", "a\tb"]:
        status, body = await api.post(
            "random_unsplash", {"workflowInstanceId": new_instance_id(), "term": value}
        )
        assert status == 400, value
        assert body["field"] == "params.term"


async def test_unknown_param_names_logged_escaped(api, caplog):
    forged = "zz\n2026-12-04 14:00:00,000 INFO td.server: td stopped"

    await api.post("random_dog", {"workflowInstanceId": new_instance_id(), forged: "x"})

    messages = [record.getMessage() for record in caplog.records]
    ignoring = [message for message in messages if "ignoring params" in message]
    assert ignoring
    assert "\n" not in ignoring[0]


@pytest.mark.parametrize("code", [RPCStatusCode.UNKNOWN, RPCStatusCode.INTERNAL])
def test_broken_connection_codes_are_unavailable(code):
    from td.instances import _translate
    from td.temporal import TemporalUnavailable

    error = _translate(RPCError("transport error", code, b""), "random_dog-1")

    assert isinstance(error, TemporalUnavailable)


def test_missing_namespace_is_unavailable():
    from google.protobuf.any_pb2 import Any as AnyMessage
    from temporalio.api.common.v1 import GrpcStatus
    from temporalio.api.errordetails.v1 import NamespaceNotFoundFailure, NotFoundFailure

    from td.instances import InstanceNotFound, _translate
    from td.temporal import TemporalUnavailable

    def not_found(message: str, detail) -> RPCError:
        packed = AnyMessage()
        packed.Pack(detail)
        status = GrpcStatus(code=RPCStatusCode.NOT_FOUND, message=message, details=[packed])
        return RPCError(message, RPCStatusCode.NOT_FOUND, status.SerializeToString())

    # What Temporal sends once the namespace that td was started with is deleted.
    deleted = not_found("Namespace gone is not found.", NamespaceNotFoundFailure(namespace="gone"))
    missing = not_found("workflow not found for ID: random_dog-1", NotFoundFailure())

    assert isinstance(_translate(deleted, "random_dog-1"), TemporalUnavailable)
    assert "-namespace" in str(_translate(deleted, "random_dog-1"))
    assert isinstance(_translate(missing, "random_dog-1"), InstanceNotFound)


def test_no_break_space_in_param_becomes_space():
    from td.workflows import load_definitions

    unsplash = load_definitions()["random_unsplash"]

    params, ignored = unsplash.validate_params({"term": "caf\u00e9\u00a0au lait"})

    assert params == {"term": "café au lait"}
    assert ignored == []
