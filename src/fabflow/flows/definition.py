"""Flow definitions: the Pydantic models of the flow language and their full validation."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    StringConstraints,
)
from pydantic.json_schema import models_json_schema
from pydantic_core import PydanticCustomError

from fabflow.flows.checks import (
    TEMPLATE_CONTEXT,
    TEMPLATE_PATH,
    DefinitionError,
    Loc,
    definition_warnings,
    model_errors,
    semantic_errors,
)
from fabflow.flows.handlers.payloads import BUILTIN_PAYLOADS

# Re-exported: callers import the whole flow language from here.
__all__ = ["TEMPLATE_CONTEXT", "DefinitionError", "definition_warnings"]
MAX_TIMEOUT_MS = 30 * 24 * 3600 * 1000

# Caps, checked before anything else (docs/flows.md#limits): every check after them is linear,
# and they keep a saved definition, which every step of every order reads, small.
MAX_STAGES = 100
MAX_STAGE_TASKS = 200
MAX_TASKS = 1000
MAX_DEFINITION_BYTES = 1024 * 1024


def definition_bytes(raw: object) -> int:
    """The size of a definition as it is stored: compact JSON in UTF-8."""
    text = json.dumps(raw, separators=(",", ":"), ensure_ascii=False, default=str)
    return len(text.encode("utf-8", "surrogatepass"))


def size_errors(raw: object) -> list[DefinitionError]:
    """The caps a definition is over; one that is over any is not looked at further."""
    if not isinstance(raw, list):
        return []
    if len(raw) > MAX_STAGES:
        return [DefinitionError((), f"at most {MAX_STAGES} stages; this flow has {len(raw)}")]
    errors: list[DefinitionError] = []
    total = 0
    for index, stage in enumerate(raw):
        tasks = stage.get("taskDefinitions") if isinstance(stage, dict) else None
        count = len(tasks) if isinstance(tasks, list) else 0
        total += count
        if count > MAX_STAGE_TASKS:
            msg = f"at most {MAX_STAGE_TASKS} task definitions per stage; this stage has {count}"
            errors.append(DefinitionError((index, "taskDefinitions"), msg))
    if total > MAX_TASKS:
        msg = f"at most {MAX_TASKS} task definitions in a flow; this flow has {total}"
        errors.append(DefinitionError((), msg))
    if errors:
        return errors
    size = definition_bytes(raw)
    if size > MAX_DEFINITION_BYTES:
        msg = f"at most {MAX_DEFINITION_BYTES} bytes as compact JSON; this flow has {size}"
        errors.append(DefinitionError((), msg))
    return errors


class DefinitionInvalid(ValueError):
    """Raised by parse_flow with every error of the definition."""

    def __init__(self, errors: list[DefinitionError]) -> None:
        first = errors[0] if errors else DefinitionError((), "invalid")
        super().__init__(
            f"{len(errors)} error(s) in flow definition; first at {first.loc}: {first.msg}"
        )
        self.errors = errors


def _timeout_bounds(value: int) -> int:
    if value < 0:
        raise PydanticCustomError("timeout_negative", "must not be negative")
    if value > MAX_TIMEOUT_MS:
        raise PydanticCustomError(
            "timeout_too_long", "must be at most 30 days ({limit} ms)", {"limit": MAX_TIMEOUT_MS}
        )
    return value


Key = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Timeout = Annotated[int, AfterValidator(_timeout_bounds)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class NextTask(_Strict):
    """A task of the same stage to start when this one ends with `trigger`."""

    taskDefinitionKey: Key
    trigger: Literal["success", "failure", "timeout"]


class TaskDefinition(_Strict):
    """One task of a stage; `payload` is validated by its handler's model."""

    key: Key
    handlerKey: Key
    payload: dict[str, Any] = Field(default_factory=dict)
    timeoutDuration: Timeout | None = Field(None, description="milliseconds; absent or 0: none")
    next: Annotated[list[NextTask], Field(max_length=50)] = Field(default_factory=list)


class FlowStage(_Strict):
    """A stage: its tasks run from the entry tasks along `next`; stages run one after another."""

    model_config = ConfigDict(title="IFlowStage")

    key: Key
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    taskDefinitions: list[TaskDefinition] = Field(
        max_length=MAX_STAGE_TASKS, json_schema_extra={"minItems": 1}
    )


class FlowDefinition(RootModel[list[FlowStage]]):
    """A whole flow definition: the JSON array of stages."""

    model_config = ConfigDict(strict=True)

    root: list[FlowStage] = Field(max_length=MAX_STAGES, json_schema_extra={"minItems": 1})

    def task(self, stage: int, key: str) -> TaskDefinition:
        return next(t for t in self.root[stage].taskDefinitions if t.key == key)


def validate_definition(
    raw: object, payloads: Mapping[str, type[BaseModel]] = BUILTIN_PAYLOADS
) -> list[DefinitionError]:
    """Every error of a parsed JSON flow definition; an empty list means it is valid.

    A definition over a cap (stages, task definitions, bytes) gets only those errors: nothing
    else of it is looked at. Every other check costs time linear in the definition's size.
    """
    return size_errors(raw) or _content_errors(raw, payloads)


def _content_errors(raw: object, payloads: Mapping[str, type[BaseModel]]) -> list[DefinitionError]:
    return model_errors(FlowDefinition, raw) + semantic_errors(raw, payloads)


def parse_flow(
    raw: object, payloads: Mapping[str, type[BaseModel]] = BUILTIN_PAYLOADS
) -> FlowDefinition:
    """The flow definition model of a valid definition; raises DefinitionInvalid otherwise.

    The engine parses stored versions with it. A version is held to the rules it was saved
    under: the caps and the template path check are for saving, so a version saved before
    them still runs (a path that names nothing renders empty, noted on the timeline).
    """
    errors = [e for e in _content_errors(raw, payloads) if e.kind != TEMPLATE_PATH]
    if errors:
        raise DefinitionInvalid(errors)
    return FlowDefinition.model_validate(raw)


def entry_tasks(stage: FlowStage) -> list[str]:
    """Keys of the tasks no `next` entry of the stage points to: they start together."""
    targets = {entry.taskDefinitionKey for task in stage.taskDefinitions for entry in task.next}
    return [task.key for task in stage.taskDefinitions if task.key not in targets]


def flow_json_schema(
    payloads: Mapping[str, type[BaseModel]] = BUILTIN_PAYLOADS,
) -> dict[str, Any]:
    """JSON schema (2020-12) of a flow definition for editors; payloads are chosen by handlerKey.

    The schema checks the shape and each payload; the graph, template and regex checks are
    validate_definition's alone.
    """
    models: list[type[BaseModel]] = [FlowDefinition, TaskDefinition]
    models += dict.fromkeys(payloads.values())
    refs, top = models_json_schema(
        [(model, "validation") for model in models], ref_template="#/$defs/{model}"
    )
    defs: dict[str, Any] = top["$defs"]

    def def_name(model: type[BaseModel]) -> str:
        return str(refs[(model, "validation")]["$ref"]).rsplit("/", 1)[1]

    task = defs[def_name(TaskDefinition)]
    task["properties"]["handlerKey"]["enum"] = sorted(payloads)
    task["allOf"] = [
        {
            "if": {"properties": {"handlerKey": {"const": key}}, "required": ["handlerKey"]},
            "then": {"properties": {"payload": refs[(model, "validation")]}},
        }
        for key, model in payloads.items()
    ]
    root = defs.pop(def_name(FlowDefinition))
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **root, "$defs": defs}


MAX_JSON_DEPTH = 64


class _JsonObject(dict[str, Any]):
    """A parsed JSON object that remembers the keys it saw more than once."""

    duplicates: list[str]


def _json_object(pairs: list[tuple[str, Any]]) -> _JsonObject:
    result = _JsonObject(pairs)
    counts = Counter(key for key, _ in pairs)
    result.duplicates = [key for key, count in counts.items() if count > 1]
    return result


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def _plain(value: Any, loc: Loc, errors: list[DefinitionError]) -> Any:
    """The value with plain dicts, recording duplicate keys and excessive nesting on the way."""
    if len(loc) > MAX_JSON_DEPTH:
        errors.append(DefinitionError(loc, f"nesting deeper than {MAX_JSON_DEPTH} levels"))
        return None
    if isinstance(value, list):
        return [_plain(item, (*loc, index), errors) for index, item in enumerate(value)]
    if isinstance(value, _JsonObject):
        errors += [DefinitionError((*loc, key), "duplicate key") for key in value.duplicates]
        return {key: _plain(item, (*loc, key), errors) for key, item in value.items()}
    return value


def parse_definition_json(text: str) -> tuple[Any, list[DefinitionError]]:
    """Parse JSON text; returns the value (None if unreadable) and the errors of the text itself.

    Errors are syntax errors (at the root), NaN/Infinity, duplicate object keys (at their path)
    and nesting deeper than MAX_JSON_DEPTH. Pass the value to validate_definition afterwards.
    """
    try:
        value = json.loads(text, object_pairs_hook=_json_object, parse_constant=_reject_constant)
    except ValueError as exc:  # JSONDecodeError among them
        return None, [DefinitionError((), f"invalid JSON: {exc}")]
    except RecursionError:
        return None, [DefinitionError((), "invalid JSON: nested too deeply")]
    errors: list[DefinitionError] = []
    return _plain(value, (), errors), errors
