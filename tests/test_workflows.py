"""random_dog and random_unsplash on Temporal's time-skipping test server, against stand-ins."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from td.config import Config
from td.converter import data_converter
from td.dispatch import Artifact, WorkflowInstanceStatus
from td.worker import create_http_session, create_worker
from td.workflows import load_definitions
from td.workflows.base import PROGRESS_MEMO, Progress, WorkflowInput
from tests import upstreams
from tests.upstreams import Fault

DEFINITIONS = load_definitions()
STEP_DELAY = timedelta(seconds=15)


@pytest.fixture
async def task_queue(
    time_skipping_env: WorkflowEnvironment,
    dog_api: upstreams.StandIn,
    unsplash_api: upstreams.StandIn,
) -> AsyncIterator[str]:
    """Run a worker for td's workflows on a task queue of this test's own."""
    queue = f"test-{uuid.uuid4()}"
    config = Config(
        queue=queue,
        dog_api=dog_api.base_url,
        unsplash_api=unsplash_api.base_url,
        unsplash_access_key=upstreams.UNSPLASH_KEY,
    )
    async with (
        create_http_session() as session,
        create_worker(time_skipping_env.client, config, DEFINITIONS, session),
    ):
        yield queue


async def start(
    client: Client, queue: str, workflow: str, params: dict[str, str] | None = None
) -> WorkflowHandle:
    instance_id = uuid.uuid4().int % 2**31
    memo = {PROGRESS_MEMO: Progress(WorkflowInstanceStatus.CREATED, datetime.now(UTC))}
    return await client.start_workflow(
        workflow,
        WorkflowInput(instance_id=instance_id, params=params or {}, step_delay=STEP_DELAY),
        id=f"{workflow}-{instance_id}",
        task_queue=queue,
        memo=memo,
        result_type=list[Artifact],
    )


async def progress_of(handle: WorkflowHandle) -> Progress:
    description = await handle.describe()
    return await description.memo_value(PROGRESS_MEMO, type_hint=Progress)


async def wait_for_artifacts(handle: WorkflowHandle, count: int) -> Progress:
    for _ in range(200):
        progress = await progress_of(handle)
        if len(progress.artifacts) >= count:
            return progress
        await asyncio.sleep(0.05)
    raise AssertionError(f"{handle.id} did not reach {count} artifacts: {progress}")


async def result_of(handle: WorkflowHandle) -> list[Artifact]:
    return await handle.result()


async def failure_of(handle: WorkflowHandle) -> str:
    with pytest.raises(WorkflowFailureError) as caught:
        await handle.result()
    return str(caught.value.cause)


async def test_dog_completes_with_two_artifacts(time_skipping_env, task_queue, dog_api):
    handle = await start(time_skipping_env.client, task_queue, "random_dog")

    artifacts = await result_of(handle)

    assert [artifact.name for artifact in artifacts] == ["Dog 1", "Dog 2"]
    assert all(a.weblink.startswith("https://images.dog.ceo/breeds/") for a in artifacts)
    assert len({artifact.resource_id for artifact in artifacts}) == 2
    assert all(a.resource_id.startswith(handle.id + "/") for a in artifacts)
    assert artifacts[1].created_at - artifacts[0].created_at >= STEP_DELAY
    assert [request.path for request in dog_api.requests] == ["/api/breeds/image/random"] * 2
    progress = await progress_of(handle)
    assert progress.status == WorkflowInstanceStatus.COMPLETED
    assert progress.artifacts == artifacts


@pytest.mark.parametrize(
    ("breed", "path"),
    [
        ("hound", "/api/breed/hound/images/random"),
        ("hound/afghan", "/api/breed/hound/afghan/images/random"),
    ],
)
async def test_dog_breed_selects_path(time_skipping_env, task_queue, dog_api, breed, path):
    handle = await start(time_skipping_env.client, task_queue, "random_dog", {"breed": breed})

    artifacts = await result_of(handle)

    assert len(artifacts) == 2
    assert [request.path for request in dog_api.requests] == [path, path]
    assert breed.replace("/", " ") in artifacts[0].description


async def test_dog_progress_between_steps(time_skipping_env, task_queue):
    handle = await start(time_skipping_env.client, task_queue, "random_dog")

    for _ in range(200):
        progress = await progress_of(handle)
        if progress.status != WorkflowInstanceStatus.CREATED:
            break
        await asyncio.sleep(0.05)
    assert progress.status == WorkflowInstanceStatus.RUNNING
    assert progress.artifacts == []

    await time_skipping_env.sleep(STEP_DELAY + timedelta(seconds=1))
    progress = await wait_for_artifacts(handle, 1)
    assert progress.status == WorkflowInstanceStatus.RUNNING
    assert [artifact.name for artifact in progress.artifacts] == ["Dog 1"]

    artifacts = await result_of(handle)
    assert artifacts[0] == progress.artifacts[0]


async def test_dog_unknown_breed_fails_at_once(time_skipping_env, task_queue, dog_api):
    handle = await start(time_skipping_env.client, task_queue, "random_dog", {"breed": "wolf"})

    reason = await failure_of(handle)

    assert "Dog 1 failed" in reason
    assert "'wolf' not found" in reason
    assert len(dog_api.requests) == 1
    progress = await progress_of(handle)
    assert progress.status == WorkflowInstanceStatus.FAILED
    assert progress.error == reason


@pytest.mark.parametrize(
    "fault",
    [
        Fault(status=500),
        Fault(status=502, raw=b"<html>Bad Gateway</html>"),
        Fault(status=429, body={"errors": ["slow down"]}, headers={"Retry-After": "2"}),
        Fault(status=200, raw=b"not json"),
    ],
    ids=["500", "502-html", "429-retry-after", "200-not-json"],
)
async def test_dog_retries_transient_faults(time_skipping_env, task_queue, dog_api, fault):
    dog_api.faults.extend([fault, fault])
    handle = await start(time_skipping_env.client, task_queue, "random_dog")

    artifacts = await result_of(handle)

    assert [artifact.name for artifact in artifacts] == ["Dog 1", "Dog 2"]
    assert len(dog_api.requests) == 4


async def test_dog_retries_timeout(time_skipping_env, dog_api):
    queue = f"test-{uuid.uuid4()}"
    config = Config(queue=queue, dog_api=dog_api.base_url)
    dog_api.faults.append(Fault(status=200, delay=1.0))
    # A session with a short timeout, so the stand-in's delay times the first attempt out.
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.2)) as session,
        create_worker(time_skipping_env.client, config, DEFINITIONS, session),
    ):
        handle = await start(time_skipping_env.client, queue, "random_dog")
        artifacts = await result_of(handle)

    assert len(artifacts) == 2
    assert len(dog_api.requests) == 3


async def test_dog_retries_large_error_page(time_skipping_env, task_queue, dog_api):
    dog_api.faults.append(Fault(status=503, raw=b"<html>" + b"x" * 300_000 + b"</html>"))
    handle = await start(time_skipping_env.client, task_queue, "random_dog")

    artifacts = await result_of(handle)

    assert [artifact.name for artifact in artifacts] == ["Dog 1", "Dog 2"]
    assert len(dog_api.requests) == 3


async def test_dog_error_text_is_cleaned(time_skipping_env, task_queue, dog_api):
    message = "Breed not found\n2026-12-04 INFO td.server: forged line \ud800" + "x" * 100_000
    body = {"status": "error", "message": message, "code": 404}
    dog_api.faults.append(Fault(status=404, body=body))
    handle = await start(time_skipping_env.client, task_queue, "random_dog", {"breed": "wolf"})

    reason = await failure_of(handle)

    assert "not found: Breed not found 2026-12-04 INFO td.server: forged line \ufffd" in reason
    assert "\n" not in reason
    assert len(reason) < 1000


async def test_dog_gives_up_on_endless_5xx(time_skipping_env, task_queue, dog_api):
    dog_api.faults.extend([Fault(status=503)] * 20)
    handle = await start(time_skipping_env.client, task_queue, "random_dog")

    reason = await failure_of(handle)

    assert "Dog 1 failed" in reason
    assert "HTTP 503" in reason
    assert 2 <= len(dog_api.requests) <= 6
    progress = await progress_of(handle)
    assert progress.status == WorkflowInstanceStatus.FAILED


async def test_unsplash_completes_with_credits(time_skipping_env, task_queue, unsplash_api):
    handle = await start(
        time_skipping_env.client, task_queue, "random_unsplash", {"term": "love & peace"}
    )

    artifacts = await result_of(handle)

    assert [artifact.name for artifact in artifacts] == ["Photo 1", "Photo 2"]
    assert "Photo by Jane Doe" in artifacts[0].description
    assert "on Unsplash" in artifacts[0].description
    assert artifacts[0].weblink.startswith("https://images.unsplash.com/photo-")
    assert artifacts[0].weblink != artifacts[1].weblink
    request = unsplash_api.requests[0]
    assert request.query["query"] == "love & peace"
    assert request.raw_path.count("&") == 0
    assert "%26" in request.raw_path
    assert request.headers["Authorization"] == f"Client-ID {upstreams.UNSPLASH_KEY}"
    assert request.headers["Accept-Version"] == "v1"


async def test_unsplash_credit_is_cleaned(time_skipping_env, task_queue, unsplash_api):
    photo = {
        "description": "Line one\nline two\u0000\u202e",
        "urls": {"regular": "https://images.unsplash.com/photo-1"},
        "links": {"html": "https://unsplash.com/photos/1"},
        "user": {"name": "Jane\udfff Doe", "links": {"html": "https://unsplash.com/@jane"}},
    }
    unsplash_api.faults.extend([Fault(status=200, body=photo)] * 2)
    handle = await start(time_skipping_env.client, task_queue, "random_unsplash")

    artifacts = await result_of(handle)

    assert artifacts[0].description.startswith("Line one line two . Photo by Jane\ufffd Doe (")


async def test_unsplash_without_term(time_skipping_env, task_queue, unsplash_api):
    handle = await start(time_skipping_env.client, task_queue, "random_unsplash")

    await result_of(handle)

    assert "query" not in unsplash_api.requests[0].query


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Fault(status=401, body={"errors": ["OAuth error: invalid"]}), "rejected the access key"),
        (Fault(status=403, body={"errors": ["Rate Limit Exceeded"]}), "rate limit exceeded"),
    ],
    ids=["401", "403"],
)
async def test_unsplash_rejections_fail_at_once(
    time_skipping_env, task_queue, unsplash_api, fault, expected
):
    unsplash_api.faults.append(fault)
    handle = await start(time_skipping_env.client, task_queue, "random_unsplash")

    reason = await failure_of(handle)

    assert expected in reason
    assert len(unsplash_api.requests) == 1


async def test_unsplash_no_match_fails(time_skipping_env, task_queue, unsplash_api):
    handle = await start(
        time_skipping_env.client, task_queue, "random_unsplash", {"term": "nothing-matches"}
    )

    reason = await failure_of(handle)

    assert "No photos found." in reason
    assert len(unsplash_api.requests) == 1


async def test_unsplash_missing_key_fails(time_skipping_env, unsplash_api):
    queue = f"test-{uuid.uuid4()}"
    config = Config(queue=queue, unsplash_api=unsplash_api.base_url, unsplash_access_key=None)
    async with (
        create_http_session() as session,
        create_worker(time_skipping_env.client, config, DEFINITIONS, session),
    ):
        handle = await start(time_skipping_env.client, queue, "random_unsplash")
        reason = await failure_of(handle)

    assert "UNSPLASH_ACCESS_KEY is not set" in reason
    assert unsplash_api.requests == []


async def test_replay_is_deterministic(time_skipping_env, task_queue):
    handle = await start(time_skipping_env.client, task_queue, "random_dog", {"breed": "pug"})
    await result_of(handle)
    history = await handle.fetch_history()

    replayer = Replayer(
        workflows=[definition.workflow for definition in DEFINITIONS.values()],
        data_converter=data_converter,
    )
    await replayer.replay_workflow(history)


async def test_worker_registers_every_definition(time_skipping_env):
    async with create_http_session() as session:
        worker = create_worker(time_skipping_env.client, Config(), DEFINITIONS, session)
    assert isinstance(worker, Worker)
    assert {"random_dog", "random_unsplash"} <= set(DEFINITIONS)


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (
            Fault(
                status=200,
                raw=b'{"status": "success", "message": "https://a/' + b"x" * 300_000 + b'"}',
            ),
            "more than",
        ),
        (Fault(status=302, headers={"Location": "http://127.0.0.1:9/x"}, body={}), "redirect"),
        (
            Fault(status=200, body={"status": "success", "message": "javascript:alert(1)"}),
            "http(s) link",
        ),
        (
            Fault(status=200, body={"status": "success", "message": "https://a/" + "x" * 3000}),
            "http(s) link",
        ),
        (
            Fault(status=200, body={"status": "success", "message": "https://a/b\u0000.jpg"}),
            "http(s) link",
        ),
        (
            Fault(status=200, body={"status": "success", "message": "https://a/\ud800.jpg"}),
            "http(s) link",
        ),
        (Fault(status=200, raw=b"[" * 100_000), "nested too deeply"),
    ],
    ids=[
        "huge-body",
        "redirect",
        "javascript-url",
        "long-url",
        "nul-in-url",
        "surrogate-in-url",
        "deep-json",
    ],
)
async def test_dog_bad_answers_fail_at_once(
    time_skipping_env, task_queue, dog_api, fault, expected
):
    dog_api.faults.append(fault)
    handle = await start(time_skipping_env.client, task_queue, "random_dog")

    reason = await failure_of(handle)

    assert expected in reason
    assert len(dog_api.requests) == 1


@pytest.mark.parametrize(
    "bad_link",
    ["javascript:alert(1)", "12345", None, "https://images.unsplash.com/a\u0000b", "https://a/ b"],
)
async def test_unsplash_bad_links_fail(time_skipping_env, task_queue, unsplash_api, bad_link):
    photo = {
        "urls": {"regular": bad_link},
        "links": {"html": "https://unsplash.com/photos/x"},
        "user": {"name": "Jane", "links": {"html": "https://unsplash.com/@jane"}},
    }
    unsplash_api.faults.append(Fault(status=200, body=photo))
    handle = await start(time_skipping_env.client, task_queue, "random_unsplash")

    reason = await failure_of(handle)

    assert "http(s) link" in reason


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("3", 3), ("9999999999999999999999999", 60), ("\u00b2", None), ("-5", None), ("", None)],
)
def test_retry_after_parsing(header, seconds):
    from td.upstream import _parse_retry_after

    delay = _parse_retry_after(header)

    assert (delay.total_seconds() if delay is not None else None) == seconds
