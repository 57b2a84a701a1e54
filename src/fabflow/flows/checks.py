"""Checks of a parsed flow definition beyond its shape: keys, handlers, payloads, task graph."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from fabflow.core.templating import (
    ANY_KEYS,
    LIST,
    TEXT,
    ContextShape,
    TemplateSyntaxError,
    path_problem,
    placeholders,
)
from fabflow.flows.handlers.payloads import PayloadModel, template_fields

Loc = tuple[str | int, ...]

# What a template may name: the context fabflow.flows.engine.context.template_context builds
# (tests/unit/test_template_context.py holds the two together). `order` and `customerInfo`
# have fixed keys; `data` is the shop's own; lists render whole (no indexing).
TEMPLATE_CONTEXT: ContextShape = {
    "order": dict.fromkeys(
        ("name", "id", "thirdPartyOrderId", "value", "status", "deadline"), TEXT
    ),
    "orderUrl": TEXT,
    "customerEmail": TEXT,
    "customerInfo": dict.fromkeys(("name", "email", "phone", "company", "message"), TEXT),
    "data": ANY_KEYS,
    "addresses": LIST,
    "products": LIST,
    "assetOverview": TEXT,
    "confirmationUrl": TEXT,
}
# The kind of the errors a stored version may have from before its rule existed (parse_flow).
TEMPLATE_PATH = "template_path"


@dataclass(frozen=True)
class DefinitionError:
    """One problem of a flow definition, at its JSON path from the root array."""

    loc: Loc
    msg: str
    kind: str = field(default="", compare=False)


_MESSAGES = {
    "missing": "field required",
    "extra_forbidden": "unknown field",
    "model_type": "must be an object",
    "dict_type": "must be an object",
    "list_type": "must be an array",
}


def model_errors(model: type[BaseModel], value: object, prefix: Loc = ()) -> list[DefinitionError]:
    """The model's validation errors of `value`, at their path under `prefix`."""
    try:
        model.model_validate(value)
    except ValidationError as exc:
        return [
            DefinitionError((*prefix, *error["loc"]), _MESSAGES.get(error["type"], error["msg"]))
            for error in exc.errors(include_url=False)
        ]
    return []


@dataclass(frozen=True)
class _Task:
    loc: Loc
    stage: int
    data: dict[str, Any]

    @property
    def key(self) -> str | None:
        return _text(self.data, "key")


def _text(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    return value if isinstance(value, str) else None


def _objects(value: object) -> Iterator[tuple[int, dict[str, Any]]]:
    # Tolerant walk: entries of the wrong type already have a shape error.
    if isinstance(value, list):
        yield from ((index, item) for index, item in enumerate(value) if isinstance(item, dict))


def _tasks(raw: object) -> list[_Task]:
    return [
        _Task((stage_index, "taskDefinitions", index), stage_index, task)
        for stage_index, stage in _objects(raw)
        for index, task in _objects(stage.get("taskDefinitions"))
    ]


def _repeated(keyed: Iterable[tuple[Loc, str | None]]) -> Iterator[tuple[Loc, str]]:
    """The (loc, key) of each key that an earlier entry already has."""
    seen: set[str] = set()
    for loc, key in keyed:
        if key in seen:
            yield loc, key
        if key is not None:
            seen.add(key)


def _structure_errors(raw: object, tasks: list[_Task]) -> list[DefinitionError]:
    errors = [DefinitionError((), "a flow needs at least one stage")] if raw == [] else []
    stage_keys = (((index, "key"), _text(stage, "key")) for index, stage in _objects(raw))
    errors += [
        DefinitionError(loc, f"duplicate stage key {key!r}") for loc, key in _repeated(stage_keys)
    ]
    errors += [
        DefinitionError((index, "taskDefinitions"), "a stage needs at least one task definition")
        for index, stage in _objects(raw)
        if stage.get("taskDefinitions") == []
    ]
    task_keys = (((*task.loc, "key"), task.key) for task in tasks)
    return errors + [
        DefinitionError(loc, f"duplicate task key {key!r}: task keys are unique in the flow")
        for loc, key in _repeated(task_keys)
    ]


def _template_strings(value: object) -> Iterator[tuple[Loc, str]]:
    if isinstance(value, str):
        yield (), value
    elif isinstance(value, list):
        yield from (((index,), item) for index, item in enumerate(value) if isinstance(item, str))
    elif isinstance(value, dict):
        yield from (((name,), item) for name, item in value.items() if isinstance(item, str))


def _template_problems(text: str) -> list[tuple[str, str]]:
    """(kind, message) of each problem of a template: its syntax, or a path naming nothing."""
    try:
        paths = placeholders(text)
    except TemplateSyntaxError as exc:
        return [("", str(exc))]
    known = ", ".join(TEMPLATE_CONTEXT)
    problems: list[tuple[str, str]] = []
    for path in paths:
        root = path.split(".")[0]
        if root not in TEMPLATE_CONTEXT:
            msg = f"unknown template root {root!r} in {{{path}}}; known roots: {known}"
            problems.append(("", msg))
            continue
        problem = path_problem(TEMPLATE_CONTEXT, path)
        if problem is not None:
            problems.append((TEMPLATE_PATH, problem))
    return problems


def _template_errors(
    loc: Loc, payload: dict[str, Any], model: type[BaseModel]
) -> list[DefinitionError]:
    return [
        DefinitionError((*loc, name, *sub_loc), problem, kind)
        for name in template_fields(model)
        for sub_loc, text in _template_strings(payload.get(name))
        for kind, problem in _template_problems(text)
    ]


def _payload_errors(task: _Task, payloads: Mapping[str, type[BaseModel]]) -> list[DefinitionError]:
    handler = _text(task.data, "handlerKey")
    if handler is None:
        return []
    model = payloads.get(handler)
    if model is None:
        known = ", ".join(sorted(payloads))
        msg = f"unknown handler {handler!r}; known handlers: {known}"
        return [DefinitionError((*task.loc, "handlerKey"), msg)]
    payload = task.data.get("payload", {})
    if not isinstance(payload, dict):
        return []
    loc: Loc = (*task.loc, "payload")
    return model_errors(model, payload, loc) + _template_errors(loc, payload, model)


@dataclass(frozen=True)
class _Edge:
    loc: Loc
    source: str
    target: str


def _stage_edges(
    tasks: list[_Task], stage_of: Mapping[str, int]
) -> tuple[list[_Edge], list[DefinitionError]]:
    """The `next` entries that stay within the stage, and errors for those that do not."""
    edges: list[_Edge] = []
    errors: list[DefinitionError] = []
    for task in tasks:
        seen: set[tuple[object, object]] = set()
        for index, entry in _objects(task.data.get("next")):
            loc: Loc = (*task.loc, "next", index)
            target = _text(entry, "taskDefinitionKey")
            if target is None:
                continue
            trigger = entry.get("trigger")
            # A trigger of the wrong type (maybe unhashable) already has a shape error.
            pair = (target, trigger if isinstance(trigger, str) else repr(trigger))
            if pair in seen:
                errors.append(DefinitionError(loc, "duplicate next entry"))
            seen.add(pair)
            if target not in stage_of:
                errors.append(
                    DefinitionError((*loc, "taskDefinitionKey"), f"unknown task {target!r}")
                )
            elif stage_of[target] != task.stage:
                msg = f"task {target!r} is in another stage; next must stay within the stage"
                errors.append(DefinitionError((*loc, "taskDefinitionKey"), msg))
            elif task.key is not None:
                edges.append(_Edge(loc, task.key, target))
    return edges, errors


_CYCLE_ENDS = 3


def _cycle_text(path: list[str], start: int, target: str) -> str:
    """`a -> b -> a`; a long cycle shows its ends only, so the message costs the same for all."""
    length = len(path) - start
    if length <= 2 * _CYCLE_ENDS + 1:
        keys = path[start:]
    else:
        hidden = f"... ({length - 2 * _CYCLE_ENDS} more)"
        keys = [*path[start : start + _CYCLE_ENDS], hidden, *path[-_CYCLE_ENDS:]]
    return "cycle: " + " -> ".join([*keys, target])


def _cycle_errors(keys: list[str], edges: list[_Edge]) -> list[DefinitionError]:
    """One error per `next` entry that closes a cycle (a back edge of a depth-first search)."""
    outgoing: dict[str, list[_Edge]] = {key: [] for key in keys}
    for item in edges:
        outgoing[item.source].append(item)
    errors: list[DefinitionError] = []
    done: set[str] = set()
    for root in keys:
        if root in done:
            continue
        # The walk's path, and where each of its tasks stands on it: "is it on the path?" is
        # one look-up, not a scan of the path.
        path, pending, position = [root], [iter(outgoing[root])], {root: 0}
        while pending:
            edge = next(pending[-1], None)
            if edge is None:
                del position[path[-1]]
                done.add(path.pop())
                pending.pop()
            elif edge.target in position:
                text = _cycle_text(path, position[edge.target], edge.target)
                errors.append(DefinitionError(edge.loc, text))
            elif edge.target not in done:
                position[edge.target] = len(path)
                path.append(edge.target)
                pending.append(iter(outgoing[edge.target]))
    return errors


def _graph_errors(tasks: list[_Task], stage_count: int) -> list[DefinitionError]:
    stage_of: dict[str, int] = {}
    by_stage: dict[int, list[_Task]] = {}
    for task in tasks:
        if task.key is not None:
            stage_of.setdefault(task.key, task.stage)
        by_stage.setdefault(task.stage, []).append(task)
    errors: list[DefinitionError] = []
    for stage in range(stage_count):
        stage_tasks = by_stage.get(stage, [])
        keys = list(dict.fromkeys(task.key for task in stage_tasks if task.key is not None))
        edges, edge_errors = _stage_edges(stage_tasks, stage_of)
        errors += edge_errors + _cycle_errors(keys, edges)
        if keys and set(keys) <= {edge.target for edge in edges}:
            msg = "no entry task: every task of the stage is the target of a next entry"
            errors.append(DefinitionError((stage, "taskDefinitions"), msg))
    return errors


def semantic_errors(raw: object, payloads: Mapping[str, type[BaseModel]]) -> list[DefinitionError]:
    """Every error beyond the shape; tolerant of a broken shape, so one error hides no other."""
    tasks = _tasks(raw)
    errors = _structure_errors(raw, tasks)
    for task in tasks:
        errors += _payload_errors(task, payloads)
    stage_count = len(raw) if isinstance(raw, list) else 0
    return errors + _graph_errors(tasks, stage_count)


def definition_warnings(
    raw: object, payloads: Mapping[str, type[BaseModel]]
) -> list[DefinitionError]:
    """What leaves a definition valid but is worth a look: each payload's `warnings()`."""
    found: list[DefinitionError] = []
    for task in _tasks(raw):
        model = payloads.get(_text(task.data, "handlerKey") or "")
        try:
            payload = model.model_validate(task.data.get("payload", {})) if model else None
            warnings = payload.warnings() if isinstance(payload, PayloadModel) else {}
        except ValueError:  # an invalid payload or template: reported as an error
            continue
        found += [DefinitionError((*task.loc, "payload", f), m) for f, m in warnings.items()]
    return found
