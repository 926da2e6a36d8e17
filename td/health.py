"""Liveness and readiness endpoints for load balancers and orchestrators; no secret needed."""

from datetime import timedelta

import attrs
from aiohttp import web
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.service import RPCError
from temporalio.worker import Worker

from td.temporal import TemporalConnection, TemporalUnavailable

HEALTH_CHECK_TIMEOUT = timedelta(seconds=2)


@attrs.define
class WorkerState:
    """The worker this process runs, if any, so /readyz can tell whether it polls."""

    expected: bool
    worker: Worker | None = None


def add_health_routes(
    app: web.Application, connection: TemporalConnection, worker_state: WorkerState
) -> None:
    """Serve GET /healthz and GET /readyz on `app`."""

    async def healthz(request: web.Request) -> web.Response:
        """Answer 200 while the process serves HTTP."""
        return web.json_response({"status": "ok"})

    async def readyz(request: web.Request) -> web.Response:
        """Answer 200 while Temporal answers and, if this process runs one, the worker polls."""
        reasons = []
        try:
            client = connection.client
            if not await client.service_client.check_health(timeout=HEALTH_CHECK_TIMEOUT):
                reasons.append(f"Temporal at {connection.target} reports that it is not serving")
            else:
                # A namespace deleted after td connected fails every request, though the
                # server is healthy.
                await client.workflow_service.describe_namespace(
                    DescribeNamespaceRequest(namespace=connection.namespace),
                    timeout=HEALTH_CHECK_TIMEOUT,
                )
        except TemporalUnavailable as error:
            reasons.append(str(error))
        except RPCError as error:
            reasons.append(f"Temporal at {connection.target} did not answer: {error.message}")

        if worker_state.expected:
            worker = worker_state.worker
            if worker is None or not worker.is_running or worker.is_shutdown:
                reasons.append("the worker is not polling its task queue")

        if reasons:
            return web.json_response({"status": "not ready", "reasons": reasons}, status=503)
        return web.json_response({"status": "ready"})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
