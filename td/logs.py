"""Logging setup: text for people or JSON for log systems, and the API's access log."""

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError

# Attributes that every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRIBUTES = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

# The request key under which handlers store the Temporal workflow id for the access log.
WORKFLOW_ID = web.RequestKey("workflow_id", str)


class JSONFormatter(logging.Formatter):
    """Format each record as one JSON object a line, with its `extra=` fields as keys."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "info", log_format: str = "text") -> None:
    """Send every log record to stderr at `level` or above, as text or as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JSONFormatter())
        _keep_temporal_context_out_of_messages()
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    parser_errors = logging.getLogger("aiohttp.server")
    if not any(isinstance(item, MalformedRequestFilter) for item in parser_errors.filters):
        parser_errors.addFilter(MalformedRequestFilter())


def _keep_temporal_context_out_of_messages() -> None:
    # The SDK's workflow and activity loggers append their ids to each message as a dict, and
    # also pass them as the `temporal_workflow` or `temporal_activity` extra. A JSON line has
    # them as keys already, so the message needs no copy.
    from temporalio import activity, workflow

    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False


class MalformedRequestFilter(logging.Filter):
    """Shorten aiohttp's report of a request that its HTTP parser rejected to one warning.

    aiohttp logs such a request at error level with a traceback whose text quotes the raw bytes
    at fault, and those can be an Authorization header: a token over 8 KiB, or one with a
    control character. The class of the error is all that is kept.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            record.msg = "Rejected a malformed HTTP request from %s: %s (status %d)"
            record.args = (remote, type(error).__name__, error.code)
            record.exc_info = None
            record.exc_text = None
            record.levelno = logging.WARNING
            record.levelname = "WARNING"
        return True


class AccessLogger(AbstractAccessLogger):
    """Log each request: method, path, status, duration and the workflow id it concerned."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        workflow_id = request.get(WORKFLOW_ID)
        self.logger.info(
            '%s "%s %s" %d %.1f ms%s',
            request.remote,
            request.method,
            request.path_qs,
            response.status,
            time * 1000,
            f" {workflow_id}" if workflow_id else "",
            extra={
                "remote": request.remote,
                "method": request.method,
                "path": request.path,
                "status": response.status,
                "duration_ms": round(time * 1000, 3),
                "workflow_id": workflow_id,
            },
        )
