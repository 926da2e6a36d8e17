"""The workflow catalogue: each workflow's Dispatch resource id, description and parameters.

A Dispatch admin configures workflows from it without reading code: `GET /workflows` serves it
as JSON and `td -list-workflows` prints it.
"""

from typing import Any

from td.workflows.base import Param, WorkflowDefinition


def describe_param(param: Param) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": param.name,
        "type": "string",
        "required": param.required,
        "default": param.default,
        "description": param.description,
        "max_length": param.max_length,
    }
    if param.pattern is not None:
        entry["pattern"] = param.pattern
    return entry


def catalogue(definitions: dict[str, WorkflowDefinition]) -> dict[str, Any]:
    """Return the catalogue as the JSON body of GET /workflows."""
    return {
        "workflows": [
            {
                "id": definition.id,
                "description": definition.description,
                "parameters": [describe_param(param) for param in definition.params],
            }
            for definition in sorted(definitions.values(), key=lambda d: d.id)
        ]
    }


def format_catalogue(definitions: dict[str, WorkflowDefinition]) -> str:
    """Format the catalogue for people, one block a workflow."""
    blocks = []
    for definition in sorted(definitions.values(), key=lambda d: d.id):
        lines = [definition.id, f"  {definition.description}"]
        if not definition.params:
            lines.append("  parameters: none")
        for param in definition.params:
            need = "required" if param.required else "optional"
            if param.default is not None:
                need += f", default {param.default!r}"
            lines.append(f"  - {param.name} (string, {need}): {param.description}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"
