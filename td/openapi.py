"""The OpenAPI 3.1 description of td's HTTP API, built from the workflow registry."""

from typing import Any

from td import __version__
from td.dispatch import MAX_ID, MAX_PARAM_VALUE_LENGTH, MAX_PARAMS, WorkflowInstanceStatus
from td.workflows.base import Param, WorkflowDefinition

_JSON = "application/json"
_ID = {
    "oneOf": [
        {"type": "integer", "minimum": 1, "maximum": MAX_ID},
        # Nine digits at most, so that every string that matches is in range.
        {"type": "string", "pattern": "^[1-9][0-9]{0,8}$"},
    ],
    "description": "A Dispatch id: an integer, or a string of digits.",
}
_USER_PARAM = {"type": ["string", "number", "boolean", "null"], "maxLength": MAX_PARAM_VALUE_LENGTH}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json_response(description: str, schema: str, headers: dict | None = None) -> dict:
    response: dict[str, Any] = {
        "description": description,
        "content": {_JSON: {"schema": _ref(schema)}},
    }
    if headers:
        response["headers"] = headers
    return response


_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer"},
    }
}
_ERRORS = {
    "400": _json_response("The request is invalid; `field` names the value at fault.", "Error"),
    "401": _json_response(
        "The Authorization header is missing or not accepted.",
        "Error",
        {
            "WWW-Authenticate": {
                "description": "The accepted schemes.",
                "schema": {"type": "string"},
            }
        },
    ),
    "503": _json_response("Temporal is unreachable; retry later.", "Error", _RETRY_AFTER),
}


def _param_schema(param: Param) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "string",
        "maxLength": param.max_length,
        "description": param.description,
    }
    if param.pattern is not None:
        # An empty value means the parameter is not set.
        schema["pattern"] = f"^(|{param.pattern})$"
    return schema


def _schemas(definitions: dict[str, WorkflowDefinition]) -> dict[str, Any]:
    workflow_ids = sorted(definitions)
    user_params = {
        param.name: _param_schema(param)
        for definition in definitions.values()
        for param in definition.params
    }
    timestamp = {"type": "string", "format": "date-time"}
    return {
        "Artifact": {
            "type": "object",
            "required": [
                "name",
                "description",
                "weblink",
                "resource_id",
                "resource_type",
                "created_at",
                "updated_at",
            ],
            "properties": {
                "name": {"type": "string", "minLength": 3},
                "description": {"type": "string"},
                "weblink": {"type": "string", "format": "uri"},
                "resource_id": {
                    "type": "string",
                    "description": "Unique, and the same on every poll.",
                },
                "resource_type": {"type": "string"},
                "created_at": timestamp,
                "updated_at": timestamp,
            },
        },
        "WorkflowInstanceUpdate": {
            "type": "object",
            "description": "Dispatch's WorkflowInstanceUpdate.",
            "required": [
                "status",
                "artifacts",
                "weblink",
                "resource_id",
                "resource_type",
                "created_at",
                "updated_at",
            ],
            "properties": {
                "status": {"enum": [status.value for status in WorkflowInstanceStatus]},
                "artifacts": {"type": "array", "items": _ref("Artifact")},
                "weblink": {"type": "string", "format": "uri"},
                "resource_id": {"type": "string", "description": "The Temporal workflow id."},
                "resource_type": {"type": "string"},
                "created_at": timestamp,
                "updated_at": timestamp,
                "error": {"type": "string", "description": "Why the instance failed."},
            },
        },
        "Error": {
            "type": "object",
            "description": "An error. Dispatch reads `artifacts` from every answer, so it is here.",
            "required": ["error", "artifacts"],
            "properties": {
                "error": {"type": "string"},
                "field": {"type": "string", "description": "The value at fault."},
                "artifacts": {"type": "array", "maxItems": 0},
                "status": {"const": "Failed", "description": "On a GET that can never succeed."},
                "resource_id": {"type": "string"},
            },
        },
        "StartRequest": {
            "type": "object",
            "required": ["workflow_id", "params"],
            "properties": {
                "workflow_id": {
                    "type": "string",
                    "minLength": 1,
                    "description": f"One of: {', '.join(workflow_ids)}.",
                },
                "params": {"oneOf": [_ref("Params2022"), _ref("Params2021")]},
            },
        },
        "Params2022": {
            "type": "object",
            "description": "The params of Dispatch 2022 and later.",
            "required": ["workflowInstanceId"],
            "maxProperties": MAX_PARAMS,
            "properties": {
                "workflowInstanceId": _ID,
                "externalRef": {"type": "string", "description": "A link back to the incident."},
                **user_params,
            },
            "not": {"required": ["instance_id"]},
            "additionalProperties": _USER_PARAM,
        },
        "Params2021": {
            "type": "object",
            "description": "The params of Dispatch 2021 and 2022.",
            "required": ["instance_id"],
            "maxProperties": MAX_PARAMS,
            "properties": {
                "instance_id": _ID,
                "incident_id": _ID,
                "incident_name": {"type": "string"},
                **user_params,
            },
            "not": {"required": ["workflowInstanceId"]},
            "additionalProperties": _USER_PARAM,
        },
        "Catalogue": {
            "type": "object",
            "required": ["workflows"],
            "properties": {
                "workflows": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["id", "description", "parameters"],
                        "properties": {
                            "id": {"type": "string"},
                            "description": {"type": "string"},
                            "parameters": {"type": "array", "items": _ref("Parameter")},
                        },
                    },
                }
            },
        },
        "Parameter": {
            "type": "object",
            "required": ["name", "type", "required", "default", "description"],
            "properties": {
                "name": {"type": "string"},
                "type": {"const": "string"},
                "required": {"type": "boolean"},
                "default": {"type": ["string", "null"]},
                "description": {"type": "string"},
                "max_length": {"type": "integer"},
                "pattern": {"type": "string"},
            },
        },
        "Health": {
            "type": "object",
            "required": ["status"],
            "properties": {
                "status": {"enum": ["ok", "ready", "not ready"]},
                "reasons": {"type": "array", "items": {"type": "string"}},
            },
        },
    }


def _workflow_path() -> dict[str, Any]:
    instance_update = _json_response("The instance's state.", "WorkflowInstanceUpdate")
    query = [
        (
            "workflow_id",
            "The Dispatch resource id of the workflow.",
            {"type": "string", "minLength": 1},
        ),
        ("workflow_instance_id", "The instance id (Dispatch 2021 and 2022).", {"type": "string"}),
        ("incident_id", "Sent by Dispatch 2021; ignored.", {"type": "string"}),
        ("incident_name", "Sent by Dispatch 2021; ignored.", {"type": "string"}),
        (
            "tags",
            "`workflowId:<id>` and `workflowInstanceId:<n>` (Dispatch 2022 and later).",
            {"type": "array", "items": {"type": "string"}},
        ),
    ]
    return {
        "get": {
            "summary": "Follow a workflow instance",
            "description": (
                "Three query shapes: 2021 `workflow_id`, `workflow_instance_id`, `incident_id`, "
                "`incident_name`; 2022 adds `tags=workflowInstanceId:N`; 2023 and later send "
                "`workflow_id` and `tags=workflowId:ID&tags=workflowInstanceId:N`."
            ),
            "parameters": [
                {
                    "name": name,
                    "in": "query",
                    "required": name == "workflow_id",
                    "description": description,
                    "schema": schema,
                    **({"style": "form", "explode": True} if name == "tags" else {}),
                }
                for name, description, schema in query
            ],
            "responses": {
                "200": instance_update,
                "404": _json_response(
                    "An unknown workflow or instance; `status` is Failed so that Dispatch stops.",
                    "Error",
                ),
                **_ERRORS,
            },
        },
        "post": {
            "summary": "Start a workflow instance",
            "description": "A POST for an instance that exists starts nothing and answers 200.",
            "requestBody": {"required": True, "content": {_JSON: {"schema": _ref("StartRequest")}}},
            "responses": {
                "200": _json_response("The instance existed already.", "WorkflowInstanceUpdate"),
                "201": _json_response("The instance was started.", "WorkflowInstanceUpdate"),
                "404": _json_response("An unknown workflow_id.", "Error"),
                "408": _json_response("The body did not arrive within 30 s.", "Error"),
                "413": _json_response("The body is over 64 KiB.", "Error"),
                **_ERRORS,
            },
        },
    }


def _workflow_summary(definitions: dict[str, WorkflowDefinition]) -> str:
    entries = []
    for definition in sorted(definitions.values(), key=lambda d: d.id):
        names = ", ".join(param.name for param in definition.params) or "no parameters"
        entries.append(f"{definition.id} ({names})")
    return "; ".join(entries)


def openapi_document(definitions: dict[str, WorkflowDefinition]) -> dict[str, Any]:
    """Return the OpenAPI 3.1 document that GET /openapi.json serves."""
    workflow_path = _workflow_path()
    health = {"description": "The state.", "content": {_JSON: {"schema": _ref("Health")}}}
    open_access: list[dict] = [{}]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "td",
            "version": __version__,
            "description": "Netflix Dispatch's Generic Workflow API, served on Temporal. "
            f"Workflows: {_workflow_summary(definitions)}.",
        },
        "components": {
            "schemas": _schemas(definitions),
            "securitySchemes": {
                "authorization": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "The value configured in Dispatch, like `Bearer <token>`.",
                }
            },
        },
        "security": [{"authorization": []}, {}],
        "paths": {
            "/workflow": workflow_path,
            "/workflow/": workflow_path,
            "/workflows": {
                "get": {
                    "summary": "List the workflows and their parameters",
                    "responses": {
                        "200": _json_response("The catalogue.", "Catalogue"),
                        "401": _ERRORS["401"],
                    },
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Liveness",
                    "security": open_access,
                    "responses": {"200": health},
                }
            },
            "/readyz": {
                "get": {
                    "summary": "Readiness: Temporal answers and the worker polls",
                    "security": open_access,
                    "responses": {"200": health, "503": health},
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "security": open_access,
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3.1",
                            "content": {_JSON: {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
        },
    }
