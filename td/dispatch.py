"""Netflix Dispatch's Generic Workflow Plugin payloads: its requests and the responses it takes.

This module imports nothing from Temporal, so another service that speaks to Dispatch can reuse it.

Dispatch POSTs `{"workflow_id": ..., "params": {...}}` to start a workflow and GETs the same URL
with query parameters to follow it. Both answers are Dispatch's WorkflowInstanceUpdate. Three
generations of Dispatch send three shapes of each request, and all of them are parsed here.
"""

import enum
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import attrs
import cattrs

# Dispatch stores ids in PostgreSQL integer columns, so every id it sends fits in this range.
MAX_ID = 2**31 - 1

# Bounds on `params`, far above what a Dispatch workflow configures: a few keys, short values.
MAX_PARAMS = 50
MAX_PARAM_NAME_LENGTH = 100
MAX_PARAM_VALUE_LENGTH = 2000


class WorkflowInstanceStatus(enum.StrEnum):
    """A workflow instance's status. Dispatch's enum is case-sensitive, so these exact strings."""

    CREATED = "Created"
    RUNNING = "Running"
    COMPLETED = "Completed"
    FAILED = "Failed"


class InvalidRequest(ValueError):
    """A request that td rejects with 400; `field` names the value at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@attrs.frozen
class Artifact:
    """A document that a workflow instance produced, shown on the incident in Dispatch.

    Dispatch files artifacts by `resource_id` across all incidents, so each artifact needs a
    resource id of its own that stays the same on every poll. The evergreen fields are left out
    on purpose: Dispatch validates `evergreen_owner` as an e-mail address and rejects an empty one.
    """

    name: str
    description: str
    weblink: str
    resource_id: str
    resource_type: str
    created_at: datetime
    updated_at: datetime


@attrs.frozen
class WorkflowInstanceUpdate:
    """The response to a start or a follow request: Dispatch's WorkflowInstanceUpdate.

    `artifacts` is always sent, even empty, because Dispatch reads `answer["artifacts"]` from
    every JSON answer and a missing key breaks its sync job for every later instance.
    `error` is td's own field, which Dispatch ignores; it gives the reason for `Failed`.
    """

    status: WorkflowInstanceStatus
    artifacts: list[Artifact]
    weblink: str
    resource_id: str
    resource_type: str
    created_at: datetime
    updated_at: datetime
    error: str | None = None


@attrs.frozen
class StartRequest:
    """A POST from Dispatch that asks td to start one workflow instance."""

    workflow_id: str
    instance_id: int
    # A link back to the incident, case or signal in Dispatch's UI (Dispatch 2022 and later).
    external_ref: str | None
    incident_id: int | None
    incident_name: str | None
    # The key/value pairs configured on the workflow in Dispatch, for example {"term": "love"}.
    params: dict[str, Any]


@attrs.frozen
class FollowRequest:
    """A GET from Dispatch that asks for the state of one workflow instance."""

    workflow_id: str
    instance_id: int


# Keys that Dispatch itself puts into `params`, beside the user's parameters.
_INSTANCE_ID_KEYS = ("workflowInstanceId", "instance_id")
_FRAMEWORK_KEYS = frozenset({*_INSTANCE_ID_KEYS, "externalRef", "incident_id", "incident_name"})


def parse_start_request(body: Any) -> StartRequest:
    """Parse a decoded POST body of any Dispatch generation; raise InvalidRequest naming the field.

    Dispatch 2021-2022 sends `params` with `instance_id`, `incident_id` and `incident_name`;
    Dispatch 2022 onward sends `workflowInstanceId` and `externalRef`. Either may carry the
    instance id as an integer or as a numeric string.
    """
    if not isinstance(body, dict):
        raise InvalidRequest("body", f"body must be a JSON object, got {_json_type(body)}")

    workflow_id = body.get("workflow_id")
    if workflow_id is None:
        raise InvalidRequest("workflow_id", "workflow_id is missing")
    if not isinstance(workflow_id, str) or not workflow_id:
        raise InvalidRequest("workflow_id", "workflow_id must be a non-empty string")

    params = body.get("params")
    if params is None:
        raise InvalidRequest("params", "params is missing: it must carry workflowInstanceId")
    if not isinstance(params, dict):
        raise InvalidRequest("params", f"params must be a JSON object, got {_json_type(params)}")

    _check_param_bounds(params)
    instance_id = _instance_id_from_params(params)

    external_ref = params.get("externalRef")
    if external_ref is not None and not isinstance(external_ref, str):
        raise InvalidRequest("params.externalRef", "params.externalRef must be a string")

    incident_id = params.get("incident_id")
    if incident_id is not None:
        incident_id = parse_id(incident_id, "params.incident_id")

    incident_name = params.get("incident_name")
    if incident_name is not None and not isinstance(incident_name, str):
        raise InvalidRequest("params.incident_name", "params.incident_name must be a string")

    user_params = {key: value for key, value in params.items() if key not in _FRAMEWORK_KEYS}
    return StartRequest(
        workflow_id=workflow_id,
        instance_id=instance_id,
        external_ref=external_ref,
        incident_id=incident_id,
        incident_name=incident_name,
        params=user_params,
    )


def _check_param_bounds(params: Mapping[str, Any]) -> None:
    if len(params) > MAX_PARAMS:
        raise InvalidRequest(
            "params", f"params has {len(params)} keys, the maximum is {MAX_PARAMS}"
        )
    for key, value in params.items():
        if len(key) > MAX_PARAM_NAME_LENGTH:
            raise InvalidRequest(
                "params",
                f"params key {key[:40]!r}... is {len(key)} characters long, "
                f"the maximum is {MAX_PARAM_NAME_LENGTH}",
            )
        if isinstance(value, dict | list):
            raise InvalidRequest(
                f"params.{key}", f"params.{key} must be a string, not {_json_type(value)}"
            )
        if isinstance(value, str) and len(value) > MAX_PARAM_VALUE_LENGTH:
            raise InvalidRequest(
                f"params.{key}",
                f"params.{key} is {len(value)} characters long, "
                f"the maximum is {MAX_PARAM_VALUE_LENGTH}",
            )


def _instance_id_from_params(params: Mapping[str, Any]) -> int:
    found = {
        key: parse_id(params[key], f"params.{key}")
        for key in _INSTANCE_ID_KEYS
        if params.get(key) is not None
    }
    if not found:
        raise InvalidRequest(
            "params.workflowInstanceId",
            "params.workflowInstanceId is missing (Dispatch before 2022 sends params.instance_id)",
        )
    if len(set(found.values())) > 1:
        raise InvalidRequest(
            "params.workflowInstanceId",
            f"params.workflowInstanceId ({found['workflowInstanceId']}) and params.instance_id "
            f"({found['instance_id']}) differ",
        )
    return next(iter(found.values()))


def parse_follow_request(query: Mapping[str, Sequence[str]]) -> FollowRequest:
    """Parse the query of a GET from any Dispatch generation; raise InvalidRequest naming the field.

    `query` maps each parameter to all its values. Dispatch 2021 sends `workflow_instance_id`;
    2022 adds `tags=workflowInstanceId:N`; 2023 onward sends only `tags`, repeated:
    `tags=workflowId:random_dog&tags=workflowInstanceId:43`.
    """
    tags: dict[str, list[str]] = {}
    for tag in query.get("tags", ()):
        key, colon, value = tag.partition(":")
        if colon:
            tags.setdefault(key, []).append(value)

    workflow_id = _single_value(
        [*query.get("workflow_id", ()), *tags.get("workflowId", ())],
        "workflow_id",
    )
    if workflow_id is None:
        raise InvalidRequest("workflow_id", "query parameter workflow_id is missing")
    if not workflow_id:
        raise InvalidRequest("workflow_id", "query parameter workflow_id is empty")

    ids = {parse_id(raw, "workflow_instance_id") for raw in query.get("workflow_instance_id", ())}
    ids |= {parse_id(raw, "tags.workflowInstanceId") for raw in tags.get("workflowInstanceId", ())}
    if not ids:
        raise InvalidRequest(
            "workflow_instance_id",
            "the instance id is missing: send workflow_instance_id=N or tags=workflowInstanceId:N",
        )
    if len(ids) > 1:
        raise InvalidRequest(
            "workflow_instance_id",
            f"the query carries different instance ids: {', '.join(map(str, sorted(ids)))}",
        )
    return FollowRequest(workflow_id=workflow_id, instance_id=ids.pop())


def _single_value(values: Sequence[str], field: str) -> str | None:
    distinct = set(values)
    if len(distinct) > 1:
        raise InvalidRequest(field, f"{field} has different values: {', '.join(sorted(distinct))}")
    return values[0] if values else None


def parse_id(value: Any, field: str) -> int:
    """Parse a Dispatch id, sent as an integer or a string of digits, into a positive int."""
    if isinstance(value, bool):
        raise InvalidRequest(field, f"{field} must be a positive integer, got a boolean")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        # JSON has one number type, so 43.0 is the integer 43, as JSON Schema also reads it.
        number = int(value)
    elif isinstance(value, str) and value.isascii() and value.isdigit():
        # A long digit string is out of range anyway, and int() rejects one over 4300 digits.
        digits = value.lstrip("0") or "0"
        number = int(digits) if len(digits) <= 12 else MAX_ID + 1
    else:
        raise InvalidRequest(field, f"{field} must be a positive integer, got {value!r:.40}")
    if not 0 < number <= MAX_ID:
        raise InvalidRequest(field, f"{field} must be between 1 and {MAX_ID}, got {value!r:.40}")
    return number


def _json_type(value: Any) -> str:
    match value:
        case None:
            return "null"
        case bool():
            return "a boolean"
        case int() | float():
            return "a number"
        case str():
            return "a string"
        case list():
            return "an array"
        case _:
            return "an object"


def format_timestamp(value: datetime) -> str:
    """Format a time as `2026-01-02T03:04:05Z`, in UTC, which Dispatch's pydantic models parse."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(value: str) -> datetime:
    """Parse a time that format_timestamp wrote, or any ISO 8601 time with an offset."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


converter = cattrs.Converter(omit_if_default=True)
converter.register_unstructure_hook(datetime, format_timestamp)
converter.register_structure_hook(datetime, lambda value, _: parse_timestamp(value))
