"""Start and describe the Temporal execution behind each Dispatch workflow instance.

The Temporal workflow id is `<workflow id>-<instance id>` (`random_dog-43`), so one Dispatch
instance maps to exactly one execution however often Dispatch repeats its POST.
"""

import logging
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import attrs
from temporalio.api.enums.v1 import EventType, HistoryEventFilterType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowExecutionDescription, WorkflowExecutionStatus
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from td.dispatch import StartRequest, WorkflowInstanceStatus, WorkflowInstanceUpdate
from td.temporal import TemporalUnavailable
from td.workflows.base import (
    EXTERNAL_REF_MEMO,
    PROGRESS_MEMO,
    Progress,
    WorkflowDefinition,
    WorkflowInput,
)

logger = logging.getLogger(__name__)

# Each attempt of a call to Temporal gives up after this long. With the SDK's own retries of an
# unavailable server, Dispatch gets its 503 within about 10 s, never a hang.
RPC_TIMEOUT = timedelta(seconds=5)

RESOURCE_TYPE = "temporal-workflow-execution"

# Status codes that mean Temporal is down, overloaded or unreachable, not that the request was
# wrong. UNKNOWN and INTERNAL are what gRPC reports for a connection that a proxy or load
# balancer resets, or that returns something that is not gRPC.
_UNAVAILABLE_CODES = {
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.UNKNOWN,
    RPCStatusCode.INTERNAL,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.CANCELLED,
    RPCStatusCode.ABORTED,
}


class InstanceNotFound(Exception):
    """Temporal has no execution for a workflow instance."""

    def __init__(self, workflow_id: str) -> None:
        super().__init__(f"Temporal holds no execution with workflow id {workflow_id!r}")
        self.workflow_id = workflow_id


@attrs.frozen
class Links:
    """The target of each instance's weblink: the Temporal UI when configured, else the site."""

    namespace: str
    ui: str | None

    def weblink(self, definition: WorkflowDefinition, workflow_id: str, run_id: str) -> str:
        if self.ui is None:
            return definition.site
        return (
            f"{self.ui}/namespaces/{quote(self.namespace, safe='')}"
            f"/workflows/{quote(workflow_id, safe='')}/{quote(run_id, safe='')}/history"
        )


def temporal_workflow_id(definition: WorkflowDefinition, instance_id: int) -> str:
    return f"{definition.id}-{instance_id}"


async def start_instance(
    client: Client,
    definition: WorkflowDefinition,
    request: StartRequest,
    params: dict[str, str],
    *,
    task_queue: str,
    step_delay: timedelta,
    links: Links,
) -> tuple[WorkflowInstanceUpdate, bool]:
    """Start the execution for a Dispatch instance, or find the one a former POST started.

    Returns the instance's state and whether this call started it.
    """
    workflow_id = temporal_workflow_id(definition, request.instance_id)
    now = datetime.now(UTC)
    memo = {
        PROGRESS_MEMO: Progress(status=WorkflowInstanceStatus.CREATED, updated_at=now),
        EXTERNAL_REF_MEMO: request.external_ref,
        "incident_id": request.incident_id,
        "incident_name": request.incident_name,
    }
    try:
        handle = await client.start_workflow(
            definition.workflow.run,
            WorkflowInput(instance_id=request.instance_id, params=params, step_delay=step_delay),
            id=workflow_id,
            task_queue=task_queue,
            memo={key: value for key, value in memo.items() if value is not None},
            # An execution id is never reused, even after it closed: a repeated POST for a
            # finished instance must report that execution, not start a second one.
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            rpc_timeout=RPC_TIMEOUT,
        )
    except WorkflowAlreadyStartedError:
        logger.info("Workflow %s already exists, so nothing was started", workflow_id)
        return await describe_instance(client, definition, request.instance_id, links), False
    except RPCError as error:
        raise _translate(error, workflow_id) from error

    logger.info(
        "Started workflow %s (run %s) on task queue %s",
        workflow_id,
        handle.result_run_id,
        task_queue,
    )
    update = WorkflowInstanceUpdate(
        status=WorkflowInstanceStatus.CREATED,
        artifacts=[],
        weblink=links.weblink(definition, workflow_id, handle.result_run_id or ""),
        resource_id=workflow_id,
        resource_type=RESOURCE_TYPE,
        created_at=now,
        updated_at=now,
    )
    return update, True


async def describe_instance(
    client: Client,
    definition: WorkflowDefinition,
    instance_id: int,
    links: Links,
) -> WorkflowInstanceUpdate:
    """Read an instance's state from Temporal; raise InstanceNotFound if there is no execution.

    This reads the execution's status and memo from the server, never a query, so the state is
    right while no worker polls the task queue.
    """
    workflow_id = temporal_workflow_id(definition, instance_id)
    handle = client.get_workflow_handle(workflow_id)
    try:
        description = await handle.describe(rpc_timeout=RPC_TIMEOUT)
        progress = await description.memo_value(PROGRESS_MEMO, None, type_hint=Progress)
    except RPCError as error:
        raise _translate(error, workflow_id) from error

    status, error_message = await _dispatch_status(client, description, progress)
    updated_at = description.close_time or (progress.updated_at if progress else None)
    return WorkflowInstanceUpdate(
        status=status,
        artifacts=list(progress.artifacts) if progress else [],
        weblink=links.weblink(definition, workflow_id, description.run_id),
        resource_id=workflow_id,
        resource_type=RESOURCE_TYPE,
        created_at=description.start_time,
        updated_at=updated_at or description.start_time,
        error=error_message,
    )


async def _dispatch_status(
    client: Client,
    description: WorkflowExecutionDescription,
    progress: Progress | None,
) -> tuple[WorkflowInstanceStatus, str | None]:
    match description.status:
        case WorkflowExecutionStatus.COMPLETED:
            return WorkflowInstanceStatus.COMPLETED, None
        case WorkflowExecutionStatus.RUNNING | WorkflowExecutionStatus.CONTINUED_AS_NEW:
            if progress is None:
                return WorkflowInstanceStatus.CREATED, None
            return progress.status, progress.error
        case _:
            if progress is not None and progress.error:
                return WorkflowInstanceStatus.FAILED, progress.error
            return WorkflowInstanceStatus.FAILED, await _closing_reason(client, description)


async def _closing_reason(client: Client, description: WorkflowExecutionDescription) -> str:
    """Read why an execution failed, was terminated, cancelled or timed out from its close event."""
    status_name = description.status.name.lower() if description.status else "closed"
    handle = client.get_workflow_handle(description.id, run_id=description.run_id)
    try:
        async for event in handle.fetch_history_events(
            event_filter_type=HistoryEventFilterType.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT,
            rpc_timeout=RPC_TIMEOUT,
        ):
            detail = _close_event_detail(event)
            if detail:
                return f"workflow execution {status_name}: {detail}"
    except RPCError as error:
        logger.warning("Reading the close event of %s failed: %s", description.id, error)
    return f"workflow execution {status_name}"


def _close_event_detail(event: HistoryEvent) -> str:
    match event.event_type:
        case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
            return event.workflow_execution_failed_event_attributes.failure.message
        case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
            return event.workflow_execution_terminated_event_attributes.reason
        case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT:
            return "the workflow execution timeout passed"
        case _:
            return ""


def _translate(error: RPCError, workflow_id: str) -> Exception:
    if error.status == RPCStatusCode.NOT_FOUND and _is_namespace_missing(error):
        # td's configuration is wrong, not the instance: Dispatch retries a 503, whereas a 404
        # would mark the instance Failed for good.
        logger.error("Temporal has no namespace for workflow %s: %s", workflow_id, error.message)
        return TemporalUnavailable(
            f"Temporal is misconfigured: {error.message} Create the namespace or start td with "
            "-namespace set to an existing one."
        )
    if error.status == RPCStatusCode.NOT_FOUND:
        return InstanceNotFound(workflow_id)
    if error.status in _UNAVAILABLE_CODES:
        logger.warning("Temporal is unavailable for workflow %s: %s", workflow_id, error)
        return TemporalUnavailable(f"Temporal is unavailable: {error.message}")
    logger.error("Temporal rejected a call for workflow %s: %s", workflow_id, error)
    return error


def _is_namespace_missing(error: RPCError) -> bool:
    details = error.grpc_status.details
    return any(detail.type_url.endswith(".NamespaceNotFoundFailure") for detail in details)
