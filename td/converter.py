"""A Temporal data converter that carries attrs classes as JSON, converted by cattrs.

Temporal's default converter knows dataclasses and pydantic models but not attrs classes,
so workflow and activity inputs and results would otherwise arrive as plain dicts.
"""

import dataclasses
from datetime import timedelta
from typing import Any

import attrs
from temporalio.converter import (
    AdvancedJSONEncoder,
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
    JSONTypeConverter,
)

from td.dispatch import converter as dispatch_converter

cattrs_converter = dispatch_converter.copy()
# A duration travels as seconds, which every Temporal SDK can read.
cattrs_converter.register_unstructure_hook(timedelta, timedelta.total_seconds)
cattrs_converter.register_structure_hook(timedelta, lambda value, _: timedelta(seconds=value))


class _AttrsJSONEncoder(AdvancedJSONEncoder):
    def default(self, o: Any) -> Any:
        if attrs.has(type(o)):
            return cattrs_converter.unstructure(o)
        return super().default(o)


class _AttrsTypeConverter(JSONTypeConverter):
    def to_typed_value(self, hint: type, value: Any) -> Any:
        if isinstance(hint, type) and attrs.has(hint):
            return cattrs_converter.structure(value, hint)
        return JSONTypeConverter.Unhandled


class _PayloadConverter(CompositePayloadConverter):
    def __init__(self) -> None:
        json_converter = JSONPlainPayloadConverter(
            encoder=_AttrsJSONEncoder,
            custom_type_converters=[_AttrsTypeConverter()],
        )
        super().__init__(
            *(
                json_converter if isinstance(c, JSONPlainPayloadConverter) else c
                for c in DefaultPayloadConverter.default_encoding_payload_converters
            )
        )


data_converter = dataclasses.replace(
    DataConverter.default, payload_converter_class=_PayloadConverter
)
