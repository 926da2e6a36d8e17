"""The Temporal worker that runs td's workflows and activities in the td process."""

from datetime import timedelta

import aiohttp
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from td import __version__
from td.config import Config
from td.workflows.base import WorkflowDefinition

# The sandbox imports workflow modules afresh for every run. These modules hold no state, and the
# classes that cross the data converter live in them, so they are shared instead: cattrs caches a
# converter function per class, and fresh classes on every run would grow that cache forever.
_PASSTHROUGH_MODULES = (
    "attrs",
    "cattrs",
    "aiohttp",
    "td.config",
    "td.converter",
    "td.dispatch",
    "td.upstream",
    "td.workflows.base",
)

# Time that running activities get to finish when td stops, before they are cancelled.
GRACEFUL_SHUTDOWN = timedelta(seconds=7)

# An upstream answer that takes longer fails the attempt, and Temporal retries it.
UPSTREAM_TIMEOUT = aiohttp.ClientTimeout(total=10)


def create_http_session() -> aiohttp.ClientSession:
    """Open the HTTP client session that activities share for calls to upstream APIs."""
    return aiohttp.ClientSession(
        timeout=UPSTREAM_TIMEOUT,
        headers={"User-Agent": f"td/{__version__} (+Netflix Dispatch workflows on Temporal)"},
        raise_for_status=False,
    )


def create_worker(
    client: Client,
    config: Config,
    definitions: dict[str, WorkflowDefinition],
    session: aiohttp.ClientSession,
) -> Worker:
    """Create a worker for every workflow in `definitions`, polling `config.queue`."""
    activities = [
        activity
        for definition in definitions.values()
        for activity in definition.make_activities(session, config)
    ]
    restrictions = SandboxRestrictions.default.with_passthrough_modules(*_PASSTHROUGH_MODULES)
    return Worker(
        client,
        task_queue=config.queue,
        workflows=[definition.workflow for definition in definitions.values()],
        activities=activities,
        workflow_runner=SandboxedWorkflowRunner(restrictions=restrictions),
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
    )
