"""Flow graph: a flow definition, optionally with task run states, as a mermaid flowchart."""

from __future__ import annotations

import string
from collections import Counter
from collections.abc import Collection, Mapping
from typing import Any

from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from fabflow.flows.definition import MAX_STAGE_TASKS, MAX_STAGES, MAX_TASKS

__all__ = ["MAX_EDGES", "STATES", "TRIGGERS", "flowchart", "render_graph", "summary"]

TRIGGERS = ("success", "failure", "timeout")
NOT_STARTED = "not started"
STATES = (NOT_STARTED, "pending", "running", "waiting", "succeeded", "failed", "cancelled")
# Node classes: one per state (its name without spaces), then marks.
_NODE_STYLE = {
    "notstarted": "fill:#f8fafc,stroke:#cbd5e1",
    "pending": "fill:#f1f5f9,stroke:#94a3b8",
    "running": "fill:#dbeafe,stroke:#3b82f6",
    "waiting": "fill:#fef3c7,stroke:#f59e0b",
    "succeeded": "fill:#dcfce7,stroke:#22c55e",
    "failed": "fill:#fee2e2,stroke:#ef4444",
    "cancelled": "fill:#e5e7eb,stroke:#6b7280,stroke-dasharray:5 3",
    "unknown": "fill:#ffffff,stroke:#94a3b8",
    "timedout": "stroke:#ea580c,stroke-width:3px",
    "empty": "fill:none,stroke:none,color:#94a3b8",
}
# Trigger: (arrow, colour); the line style tells them apart without colour too.
_EDGE_STYLE = {"success": ("-->", "#16a34a"), "failure": ("==>", "#dc2626"),
               "timeout": ("-.->", "#ea580c"), "stage": ("-->", "#94a3b8")}  # fmt: skip
# Arrows drawn at most (MAX_TASKS bounds the tasks): mermaid's maxEdges in graph.js is above it.
MAX_EDGES = 3 * MAX_TASKS + MAX_STAGES
_PLAIN = frozenset(string.ascii_letters + string.digits + " -_")

Stage = tuple[str, list[tuple[str, str, list[tuple[str, str]]]]]


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _label(text: str, limit: int = 60) -> str:
    """User text for a label, all but plain ASCII as `#code;` entities: mermaid makes them HTML
    character references, only ever text (no key can end a label or inject markup)."""
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return "".join(c if c in _PLAIN else f"#{ord(c)};" for c in text)


def _stages(definition: object) -> list[Stage]:
    """What can be drawn of whatever the editor holds, up to the caps of a valid flow."""
    stages: list[Stage] = []
    budget = MAX_TASKS
    for index, raw in enumerate(definition[:MAX_STAGES] if isinstance(definition, list) else []):
        if not isinstance(raw, dict) or budget == 0:
            continue
        name = _text(raw.get("name")) or _text(raw.get("key")) or f"Stage {index + 1}"
        raw_tasks = raw.get("taskDefinitions")
        by_key: dict[str, dict[str, Any]] = {}
        for task in raw_tasks[:MAX_STAGE_TASKS] if isinstance(raw_tasks, list) else []:
            key = _text(task.get("key")) if isinstance(task, dict) else ""
            if key and key not in by_key and len(by_key) < budget:
                by_key[key] = task
        budget -= len(by_key)
        stages.append((name, [(key, _text(t.get("handlerKey")), _next(t, by_key))
                              for key, t in by_key.items()]))  # fmt: skip
    return stages


def _next(task: dict[str, Any], known: Collection[str]) -> list[tuple[str, str]]:
    raw = task.get("next")
    pairs = [(_text(e.get("taskDefinitionKey")), _text(e.get("trigger")))
             for e in (raw if isinstance(raw, list) else []) if isinstance(e, dict)]  # fmt: skip
    return list(dict.fromkeys(p for p in pairs if p[0] in known and p[1] in TRIGGERS))


def flowchart(
    definition: object, states: Mapping[str, str] | None = None, timed_out: Collection[str] = ()
) -> str:
    """The mermaid source: stages top to bottom in order, one subgraph each, edges by trigger;
    `states` maps task keys to run states (missing: not started), `timed_out` marks tasks."""
    stages = _stages(definition)
    if not stages:
        return 'flowchart TB\n  empty["Nothing to draw yet"]\n  class empty empty'
    lines = ["flowchart TB", *(f"classDef {name} {style}" for name, style in _NODE_STYLE.items())]
    edges, marks = [], []
    for s, (name, tasks) in enumerate(stages):
        lines.append(f'  subgraph s{s}["{s + 1}. {_label(name, 80)}"]')
        ids = {key: f"s{s}t{t}" for t, (key, _, _) in enumerate(tasks)}
        for key, handler, next_ in tasks:
            parts = [f"<b>{_label(key)}</b>", _label(handler)]
            state = str(states.get(key) or NOT_STARTED) if states is not None else None
            if state is not None:
                parts.append(_label(state) + (" #183; timed out" if key in timed_out else ""))
                css = state.replace(" ", "") if state in STATES else "unknown"
                marks.append(f"  class {ids[key]} {css}")
            if key in timed_out:
                marks.append(f"  class {ids[key]} timedout")
            lines.append(f'    {ids[key]}["{"<br/>".join(p for p in parts if p)}"]')
            edges += [(ids[key], ids[target], trigger) for target, trigger in next_]
        if not tasks:
            lines.append(f'    s{s}e["No tasks"]')
            marks.append(f"  class s{s}e empty")
        lines.append("  end")
    edges = ([(f"s{s - 1}", f"s{s}", "stage") for s in range(1, len(stages))] + edges)[:MAX_EDGES]
    lines += [f"  {a} {_EDGE_STYLE[trigger][0]}{'' if trigger == 'stage' else f'|{trigger}|'} {b}"
              for a, b, trigger in edges]  # fmt: skip
    for trigger, (_, colour) in _EDGE_STYLE.items():
        numbers = ",".join(str(i) for i, edge in enumerate(edges) if edge[2] == trigger)
        if numbers:
            lines.append(f"  linkStyle {numbers} stroke:{colour},color:{colour}")
    return "\n".join(lines + marks)


def summary(
    definition: object, states: Mapping[str, str] | None = None, timed_out: Collection[str] = ()
) -> str:
    """The graph in words, for its caption and assistive technology."""
    stages = _stages(definition)
    if not stages:
        return "Empty flow"

    def plural(count: int, noun: str) -> str:
        return f"{count} {noun}" if count == 1 else f"{count} {noun}s"

    parts = ", ".join(f"{name} ({plural(len(tasks), 'task')})" for name, tasks in stages)
    text = f"Flow with {plural(len(stages), 'stage')}: {parts}"
    keys = [key for _, tasks in stages for key, _, _ in tasks]
    if states is not None and keys:
        counts = Counter(str(states.get(key) or NOT_STARTED) for key in keys)
        text += ". " + ", ".join(f"{count} {state}" for state, count in counts.items())
    late = sum(key in timed_out for key in keys)
    return text + (f", {late} timed out" if late else "")


def render_graph(
    definition: object, states: Mapping[str, str] | None = None, timed_out: Collection[str] = ()
) -> SafeString:
    """The flowchart (drawn by mermaid in the browser) with its summary, for a page."""
    source, text = flowchart(definition, states, timed_out), summary(definition, states, timed_out)
    return SafeString(render_to_string("flows/graph.html", {"source": source, "summary": text}))
