"""The workflows td serves. Each is one module here with a module-level DEFINITION.

The registry imports every module in this package, so adding a workflow needs no other edit.
"""

import importlib
import pkgutil

from td.workflows.base import WorkflowDefinition

# Modules that hold shared code, not a workflow.
_NOT_WORKFLOWS = {"base"}


def load_definitions() -> dict[str, WorkflowDefinition]:
    """Import each workflow module of this package and return its DEFINITION by workflow id."""
    definitions: dict[str, WorkflowDefinition] = {}
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module_info.name in _NOT_WORKFLOWS or module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        definition = getattr(module, "DEFINITION", None)
        if not isinstance(definition, WorkflowDefinition):
            raise TypeError(f"{module.__name__} must define DEFINITION = WorkflowDefinition(...)")
        if definition.id in definitions:
            raise ValueError(f"workflow id {definition.id!r} is defined twice")
        definitions[definition.id] = definition
    return definitions
