"""What every td workflow shares: its declaration, its input, and the steps that report progress.

A workflow's progress lives in the execution's memo, which the workflow updates at each step.
Temporal serves the memo from the server, so td answers Dispatch's GET correctly even while no
worker polls the task queue, which a query could not do.
"""

import re
import unicodedata
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import attrs
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

from td.config import Config
from td.dispatch import Artifact, InvalidRequest, WorkflowInstanceStatus

# The memo key of the Progress record, and the one of Dispatch's link back to the incident.
PROGRESS_MEMO = "progress"
EXTERNAL_REF_MEMO = "externalRef"

STEP_COUNT = 2

# An upstream call gets 10 s (the HTTP client's own timeout) and 15 s per attempt here. Retries of
# timeouts, 429 and 5xx back off from 1 s to 30 s, and the whole step gives up after 2 minutes.
ACTIVITY_OPTIONS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=15),
    "schedule_to_close_timeout": timedelta(minutes=2),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=30),
        maximum_attempts=6,
    ),
}


# Unicode categories that a parameter value may not contain: control and format characters,
# line and paragraph separators, and unpaired surrogates, which JSON can carry as "\ud800" but no
# URL or HTTP header can. Also private-use and unassigned code points.
_REJECTED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


@attrs.frozen
class Param:
    """A parameter that Dispatch passes to a workflow; its value always arrives as a string."""

    name: str
    description: str
    required: bool = False
    # The value a workflow uses when Dispatch sends none; None means the workflow's own choice.
    default: str | None = None
    # A full match of this pattern is required, after leading and trailing blanks are stripped.
    pattern: str | None = None
    pattern_help: str = ""
    max_length: int = 200


@attrs.frozen
class WorkflowDefinition:
    """A workflow that td serves: its Dispatch resource id, parameters, workflow and activities."""

    # The Dispatch resource id, which is also the Temporal workflow type name.
    id: str
    description: str
    workflow: type
    make_activities: Callable[[aiohttp.ClientSession, Config], Sequence[Callable[..., Any]]]
    # The upstream site, the instance's weblink when no Temporal UI is configured.
    site: str
    params: tuple[Param, ...] = ()

    def validate_params(self, params: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
        """Check the user params; return the declared ones, cleaned, and the ignored names.

        Raises InvalidRequest naming the parameter at fault. Empty values count as absent because
        Dispatch sends a parameter that has no value as an empty string or leaves it out.
        """
        declared = {param.name: param for param in self.params}
        cleaned: dict[str, str] = {}
        for param in self.params:
            field = f"params.{param.name}"
            value = params.get(param.name)
            if value is None or value == "":
                if param.required:
                    raise InvalidRequest(field, f"{field} is required")
                if param.default is not None:
                    cleaned[param.name] = param.default
                continue
            if not isinstance(value, str):
                raise InvalidRequest(field, f"{field} must be a string, got {value!r}")
            value = value.strip()
            if any(unicodedata.category(char) in _REJECTED_CATEGORIES for char in value):
                raise InvalidRequest(
                    field,
                    f"{field} {value[:40]!r} contains a control, format or unpaired character",
                )
            # A no-break space, as pasted from a web page, becomes a plain space.
            value = "".join(" " if unicodedata.category(char) == "Zs" else char for char in value)
            if len(value) > param.max_length:
                raise InvalidRequest(
                    field,
                    f"{field} is {len(value)} characters long, the maximum is {param.max_length}",
                )
            if param.pattern is not None and not re.fullmatch(param.pattern, value):
                raise InvalidRequest(field, f"{field} {value!r} is invalid: {param.pattern_help}")
            cleaned[param.name] = value
        ignored = sorted(name for name in params if name not in declared)
        return cleaned, ignored


@attrs.frozen
class WorkflowInput:
    """The input of every td workflow.

    The step delay is fixed by the starter, not read from the worker's flags, so the timers of
    an execution stay the same when it is replayed on a worker started with other flags.
    """

    instance_id: int
    params: dict[str, str]
    step_delay: timedelta


@attrs.frozen
class Picture:
    """One picture that an activity fetched: the link to it and a line about it."""

    weblink: str
    description: str


@attrs.frozen
class Progress:
    """The state of an execution as Dispatch sees it, kept in the memo under PROGRESS_MEMO."""

    status: WorkflowInstanceStatus
    updated_at: datetime
    artifacts: list[Artifact] = attrs.Factory(list)
    error: str | None = None


class ProgressReporter:
    """Records each change of an execution's status and artifacts in its memo."""

    def __init__(self) -> None:
        self._artifacts: list[Artifact] = []

    def set_status(self, status: WorkflowInstanceStatus, error: str | None = None) -> None:
        self._publish(status, error)

    def add_artifact(self, artifact: Artifact) -> None:
        self._artifacts.append(artifact)
        self._publish(WorkflowInstanceStatus.RUNNING)

    @property
    def artifacts(self) -> list[Artifact]:
        return list(self._artifacts)

    def _publish(self, status: WorkflowInstanceStatus, error: str | None = None) -> None:
        progress = Progress(
            status=status, updated_at=workflow.now(), artifacts=self.artifacts, error=error
        )
        workflow.upsert_memo({PROGRESS_MEMO: progress})


async def run_picture_steps(
    workflow_input: WorkflowInput,
    fetch: Callable[..., Any],
    fetch_argument: Any,
    label: str,
    resource_type: str,
) -> list[Artifact]:
    """Run the steps of a picture workflow and return its artifacts.

    Sets `Running`, then STEP_COUNT times waits the step delay on a durable timer, runs `fetch`
    and adds the picture as the artifact "<label> <n>"; then `Completed`. A failed fetch sets
    `Failed` with the reason and fails the execution.
    """
    info = workflow.info()
    reporter = ProgressReporter()
    reporter.set_status(WorkflowInstanceStatus.RUNNING)
    workflow.logger.info("Workflow instance %d running", workflow_input.instance_id)

    for number in range(1, STEP_COUNT + 1):
        # A zero delay starts no timer, because the server fires even a zero timer about a
        # second late.
        if workflow_input.step_delay > timedelta(0):
            await workflow.sleep(workflow_input.step_delay)
        try:
            picture: Picture = await workflow.execute_activity(
                fetch, fetch_argument, result_type=Picture, **ACTIVITY_OPTIONS
            )
        except ActivityError as error:
            reason = f"{label} {number} failed: {_failure_message(error)}"
            workflow.logger.error("Workflow instance %d: %s", workflow_input.instance_id, reason)
            reporter.set_status(WorkflowInstanceStatus.FAILED, error=reason)
            _count_final_status(WorkflowInstanceStatus.FAILED)
            raise ApplicationError(reason, non_retryable=True) from error

        now = workflow.now()
        reporter.add_artifact(
            Artifact(
                name=f"{label} {number}",
                description=picture.description,
                weblink=picture.weblink,
                # Unique across all incidents and the same on every poll, as Dispatch requires.
                resource_id=f"{info.workflow_id}/{info.run_id}/{number}",
                resource_type=resource_type,
                created_at=now,
                updated_at=now,
            )
        )
        workflow.logger.info(
            "Workflow instance %d: %s %d added", workflow_input.instance_id, label, number
        )

    reporter.set_status(WorkflowInstanceStatus.COMPLETED)
    _count_final_status(WorkflowInstanceStatus.COMPLETED)
    workflow.logger.info("Workflow instance %d completed", workflow_input.instance_id)
    return reporter.artifacts


def _count_final_status(status: WorkflowInstanceStatus) -> None:
    # The workflow's metric meter records nothing while a worker replays history, so each
    # execution is counted once.
    counter = workflow.metric_meter().create_counter(
        "td_workflow_final_states", "Workflow instances that ended, by workflow and status"
    )
    counter.add(1, {"workflow": workflow.info().workflow_type, "status": status.value})


def _failure_message(error: ActivityError) -> str:
    cause = error.cause
    if cause is None:
        return str(error)
    message = _message_of(cause)
    # A timeout carries the failure of the last attempt as its own cause. An error of td's own
    # carries the exception it wraps, whose text it quotes already.
    if cause.__cause__ is not None and _message_of(cause.__cause__) not in message:
        message += f" (last attempt: {_message_of(cause.__cause__)})"
    return message


def _message_of(error: BaseException) -> str:
    return error.message if isinstance(error, FailureError) else str(error)
