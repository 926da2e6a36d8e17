"""The HTTP API that Dispatch's Generic Workflow Plugin calls: POST starts, GET follows.

Both `/workflow` and `/workflow/` are served without a redirect, because most clients turn a
redirected POST into a GET. Every answer is JSON, errors included, and every error body carries
`"artifacts": []`, since Dispatch reads that key from whatever JSON it gets.
"""

import asyncio
import codecs
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from td.auth import Credentials, auth_middleware
from td.catalogue import catalogue
from td.config import Config
from td.dispatch import (
    InvalidRequest,
    WorkflowInstanceStatus,
    WorkflowInstanceUpdate,
    converter,
    parse_follow_request,
    parse_start_request,
)
from td.health import WorkerState, add_health_routes
from td.instances import (
    InstanceNotFound,
    Links,
    describe_instance,
    start_instance,
    temporal_workflow_id,
)
from td.logs import WORKFLOW_ID
from td.metrics import ApiMetrics
from td.openapi import openapi_document
from td.temporal import TemporalConnection, TemporalUnavailable
from td.workflows.base import WorkflowDefinition

logger = logging.getLogger(__name__)

# Dispatch's POST bodies are a few hundred bytes; anything near this limit is not from Dispatch.
MAX_BODY_SIZE = 64 * 1024

# The codecs, by their Python names, that a JSON body may come in: Unicode, and the two
# charsets that HTTP clients put on bodies by default.
JSON_ENCODINGS = frozenset(
    {"utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"}
    | {"ascii", "iso8859-1"}
)

# Seconds a client has to send a whole request body. Dispatch sends a few hundred bytes at once.
BODY_TIMEOUT = 30.0

# Seconds a client should wait before it retries a request that got 503.
RETRY_AFTER_SECONDS = 5

CONFIG = web.AppKey("config", Config)
CONNECTION = web.AppKey("connection", TemporalConnection)
DEFINITIONS = web.AppKey("definitions", dict[str, WorkflowDefinition])
LINKS = web.AppKey("links", Links)
METRICS = web.AppKey("metrics", ApiMetrics)


class BodyTimeout(Exception):
    """The client did not send the whole request body within BODY_TIMEOUT."""


class UnknownWorkflow(Exception):
    def __init__(self, workflow_id: str, known: list[str]) -> None:
        super().__init__(
            f"workflow_id {workflow_id!r} is not a workflow of td; use one of: {', '.join(known)}"
        )


def create_app(
    config: Config,
    connection: TemporalConnection,
    definitions: dict[str, WorkflowDefinition],
    worker_state: WorkerState | None = None,
) -> web.Application:
    """Build the aiohttp application that serves Dispatch's Generic Workflow API.

    Raises AuthFileError if the -auth-file cannot be read.
    """
    app_metrics = ApiMetrics()
    middlewares = [metrics_middleware(app_metrics), error_middleware]
    credentials = Credentials(config.auth_file, config.auth_value)
    if credentials.configured:
        # Inside the error middleware, so that any failure of its own gets a JSON response, and
        # before every handler, so that a rejected request reaches none.
        middlewares.append(auth_middleware(credentials))
    app = web.Application(middlewares=middlewares, client_max_size=MAX_BODY_SIZE)
    app[CONFIG] = config
    app[CONNECTION] = connection
    app[DEFINITIONS] = definitions
    app[LINKS] = Links(namespace=config.namespace, ui=config.ui)
    app[METRICS] = app_metrics

    for path in ("/workflow", "/workflow/"):
        app.router.add_post(path, start_workflow)
        app.router.add_get(path, follow_workflow)
    app.router.add_get("/workflows", list_workflows)
    app.router.add_get("/openapi.json", serve_openapi)
    add_health_routes(app, connection, worker_state or WorkerState(expected=False))
    return app


async def list_workflows(request: web.Request) -> web.Response:
    """Serve the catalogue of workflows and their parameters."""
    return web.json_response(catalogue(request.app[DEFINITIONS]))


async def serve_openapi(request: web.Request) -> web.Response:
    """Serve the OpenAPI 3.1 description of this API."""
    return web.json_response(openapi_document(request.app[DEFINITIONS]))


async def start_workflow(request: web.Request) -> web.Response:
    """Start the workflow instance that Dispatch's POST names, or report the one that exists."""
    body = _parse_json_body(await _read_body(request), request.charset)

    start = parse_start_request(body)
    definition = _definition(request.app, start.workflow_id)
    request[WORKFLOW_ID] = temporal_workflow_id(definition, start.instance_id)
    params, ignored = definition.validate_params(start.params)
    if ignored:
        # repr() escapes line breaks, so a key cannot forge a line of the text log.
        logger.warning(
            "Workflow %s instance %d: ignoring params that %s does not declare: %s",
            definition.id,
            start.instance_id,
            definition.id,
            ", ".join(map(repr, ignored)),
        )

    config = request.app[CONFIG]
    update, started = await start_instance(
        request.app[CONNECTION].client,
        definition,
        start,
        params,
        task_queue=config.queue,
        step_delay=config.step_delay,
        links=request.app[LINKS],
    )
    request.app[METRICS].record_start(definition.id, started)
    return _json_response(update, status=201 if started else 200)


async def follow_workflow(request: web.Request) -> web.Response:
    """Answer Dispatch's poll with the current state of one workflow instance."""
    query = {key: request.query.getall(key) for key in request.query.keys()}
    follow = parse_follow_request(query)
    definition = _definition(request.app, follow.workflow_id)
    request[WORKFLOW_ID] = temporal_workflow_id(definition, follow.instance_id)
    update = await describe_instance(
        request.app[CONNECTION].client, definition, follow.instance_id, request.app[LINKS]
    )
    return _json_response(update)


def _definition(app: web.Application, workflow_id: str) -> WorkflowDefinition:
    definitions = app[DEFINITIONS]
    if workflow_id not in definitions:
        raise UnknownWorkflow(workflow_id, sorted(definitions))
    return definitions[workflow_id]


async def _read_body(request: web.Request) -> bytes:
    try:
        async with asyncio.timeout(BODY_TIMEOUT):
            return await request.read()
    except TimeoutError:
        # A client that trickles its body would otherwise hold the connection for good.
        logger.warning(
            "Reading the body of %s %s from %s timed out",
            request.method,
            request.path_qs,
            request.remote,
        )
        raise BodyTimeout() from None
    except web.RequestPayloadError as error:
        # A body that ends early or does not decode, such as a broken gzip stream.
        raise InvalidRequest("body", f"body could not be read: {error}") from None


def _parse_json_body(raw: bytes, charset: str | None) -> Any:
    """Decode a request body as JSON; raise InvalidRequest naming what is wrong with it."""
    encoding = _json_encoding(charset)
    try:
        text = raw.decode(encoding)
    except UnicodeError as error:
        raise InvalidRequest("body", f"body is not valid {charset or 'UTF-8'}: {error}") from None

    # Python's json accepts NaN and Infinity, which no JSON parser elsewhere does.
    def reject_constant(name: str) -> Any:
        raise ValueError(f"{name} is not valid JSON")

    try:
        return json.loads(text, parse_constant=reject_constant)
    except RecursionError:
        raise InvalidRequest("body", "body is nested too deeply") from None
    except ValueError as error:
        raise InvalidRequest("body", f"body is not valid JSON: {error}") from None


def _json_encoding(charset: str | None) -> str:
    """Return the codec for a request's charset; raise InvalidRequest for any other charset.

    JSON is UTF-8 between systems (RFC 8259), but any Python codec name would decode a body, and
    some, such as `punycode` or `unicode_escape`, transform the text instead.
    """
    if charset is None:
        return "utf-8"
    try:
        name = codecs.lookup(charset).name
    except LookupError:
        name = None
    if name not in JSON_ENCODINGS:
        raise InvalidRequest("body", f"unsupported charset {charset!r}: send UTF-8")
    return name


def _json_response(update: WorkflowInstanceUpdate, status: int = 200) -> web.Response:
    return web.json_response(converter.unstructure(update), status=status)


def _error_response(
    http_status: int,
    message: str,
    *,
    field: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> web.Response:
    body: dict[str, Any] = {"error": message, "artifacts": []}
    if field is not None:
        body["field"] = field
    body.update(extra)
    return web.json_response(body, status=http_status, headers=headers)


def metrics_middleware(metrics: ApiMetrics) -> Callable:
    """Return a middleware that counts and times every request, rejected ones included."""

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as error:
            status = error.status
            raise
        finally:
            # The route's pattern, not the path, so that label values stay few.
            resource = request.match_info.route.resource
            route = resource.canonical if resource is not None else "unmatched"
            metrics.record_request(route, request.method, status, time.perf_counter() - started)

    return middleware


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Turn every failure into a JSON answer that Dispatch can act on."""
    try:
        return await handler(request)
    except InvalidRequest as error:
        return _error_response(400, error.message, field=error.field)
    except BodyTimeout:
        response = _error_response(
            408, f"the request body did not arrive within {BODY_TIMEOUT:.0f} s", field="body"
        )
        response.force_close()
        return response
    except UnknownWorkflow as error:
        # A GET for a workflow td does not serve can never succeed: `Failed` stops the polling.
        extra = {"status": WorkflowInstanceStatus.FAILED.value} if request.method == "GET" else {}
        return _error_response(404, str(error), field="workflow_id", **extra)
    except InstanceNotFound as error:
        return _instance_not_found(error)
    except TemporalUnavailable as error:
        return _error_response(503, str(error), headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    except web.HTTPException as error:
        if error.status < 400:
            raise
        headers = {"Allow": error.headers["Allow"]} if "Allow" in error.headers else None
        message = f"{request.method} {request.path}: {error.reason}"
        if error.status == 413:
            message += f": the body is over {MAX_BODY_SIZE // 1024} KiB"
            return _error_response(error.status, message, field="body")
        return _error_response(error.status, message, headers=headers)
    except Exception:
        logger.exception("Request %s %s failed", request.method, request.path_qs)
        return _error_response(500, "internal error in td; see its log for the cause")


def _instance_not_found(error: InstanceNotFound) -> web.Response:
    # The body is a whole WorkflowInstanceUpdate with `Failed`, so Dispatch records the failure
    # and stops polling instead of asking every 30 seconds forever.
    body = {
        "status": WorkflowInstanceStatus.FAILED.value,
        "artifacts": [],
        "resource_id": error.workflow_id,
        "error": str(error),
        "field": "workflow_instance_id",
    }
    return web.json_response(body, status=404)
