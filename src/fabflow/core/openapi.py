"""Post-processing of the OpenAPI document: the contract's schema names and handler payloads."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

REF = "#/components/schemas/"


def publish(document: dict[str, Any], payloads: Mapping[str, type[BaseModel]]) -> dict[str, Any]:
    """Name `FlowStage` `IFlowStage` as the contract does; add each handler's payload schema."""
    text = json.dumps(document).replace(f'"{REF}FlowStage"', f'"{REF}IFlowStage"')
    result: dict[str, Any] = json.loads(text)
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    if "FlowStage" in schemas:
        schemas["IFlowStage"] = schemas.pop("FlowStage")
    for handler_key, model in sorted(payloads.items()):
        schema = model.model_json_schema(ref_template=REF + "{model}")
        schemas.update(schema.pop("$defs", {}))
        schema["x-handlerKey"] = handler_key
        schemas[model.__name__] = schema
    return result
