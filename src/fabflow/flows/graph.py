"""Flow graph: draws a flow definition, optionally with task run states, as an inline SVG."""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any
from xml.sax.saxutils import escape

from fabflow.flows.definition import MAX_STAGE_TASKS, MAX_STAGES, FlowDefinition

__all__ = ["STATES", "TRIGGERS", "render_svg"]

TRIGGERS = ("success", "failure", "timeout")
NOT_STARTED = "not started"
# State: (fill, border, accent for the state dot and label).
_STATE_STYLE = {
    NOT_STARTED: ("#f8fafc", "#cbd5e1", "#64748b"),
    "pending": ("#f1f5f9", "#94a3b8", "#475569"),
    "running": ("#dbeafe", "#3b82f6", "#1d4ed8"),
    "waiting": ("#fef3c7", "#f59e0b", "#b45309"),
    "succeeded": ("#dcfce7", "#22c55e", "#15803d"),
    "failed": ("#fee2e2", "#ef4444", "#b91c1c"),
    "cancelled": ("#e5e7eb", "#6b7280", "#4b5563"),
}
STATES = tuple(_STATE_STYLE)
_UNKNOWN_STYLE = ("#ffffff", "#94a3b8", "#475569")
_EDGE_COLOUR = {
    "success": "#16a34a",
    "failure": "#dc2626",
    "timeout": "#ea580c",
    "stage": "#94a3b8",
}
_TIMED_OUT = "#ea580c"
_STAGE_FILL = "#f8fafc"
_INK = "#0f172a"
_FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"

MARGIN, STAGE_PAD, HEADER, STAGE_GAP = 16, 20, 40, 48
COL_GAP, ROW_GAP, PORT_STEP = 72, 28, 12
# Rough glyph widths (px) of the fonts used, to size nodes and clip long text.
KEY_CHAR, HANDLER_CHAR, HEADER_CHAR = 7.6, 6.2, 7.8
# Keys and names come from users: drop what XML 1.0 cannot carry at all.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class _Task:
    key: str
    handler: str
    next: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class _Stage:
    name: str
    tasks: tuple[_Task, ...]


@dataclass(frozen=True)
class _Node:
    task: _Task
    x: float
    y: float
    column: int


@dataclass(frozen=True)
class _Edge:
    source: str
    target: str
    trigger: str
    path: str
    label: tuple[float, float]


class _TallestColumn:
    """The most rows of any column in a range, in constant time (a sparse table of maxima)."""

    def __init__(self, rows: list[int]) -> None:
        self._levels = [rows]
        span = 1
        while 2 * span <= len(rows):
            last = self._levels[-1]
            self._levels.append([max(a, b) for a, b in zip(last, last[span:], strict=False)])
            span *= 2

    def __call__(self, start: int, stop: int) -> int:
        """The most rows among columns start … stop - 1 (0 for an empty range)."""
        if stop <= start:
            return 0
        level = (stop - start).bit_length() - 1
        row = self._levels[level]
        return max(row[start], row[stop - (1 << level)])


@dataclass
class _StageLayout:
    stage: _Stage
    x: float
    width: float
    height: float
    nodes: dict[str, _Node] = field(default_factory=dict)
    edges: list[_Edge] = field(default_factory=list)
    tallest: _TallestColumn = field(default_factory=lambda: _TallestColumn([]))


@dataclass(frozen=True)
class _Size:
    width: float
    height: float


# --- Reading: whatever the editor holds, keep what can be drawn. ---


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _stages(definition: object) -> list[_Stage]:
    if isinstance(definition, FlowDefinition):
        definition = definition.model_dump(mode="json")
    if not isinstance(definition, list):
        return []
    # The editor's text may be far over the caps: draw no more than a valid flow can hold.
    return [
        _stage(raw, index)
        for index, raw in enumerate(definition[:MAX_STAGES])
        if isinstance(raw, dict)
    ]


def _stage(raw: dict[str, Any], index: int) -> _Stage:
    name = _text(raw.get("name")) or _text(raw.get("key")) or f"Stage {index + 1}"
    raw_tasks = raw.get("taskDefinitions")
    by_key: dict[str, dict[str, Any]] = {}
    for task in raw_tasks[:MAX_STAGE_TASKS] if isinstance(raw_tasks, list) else []:
        key = _text(task.get("key")) if isinstance(task, dict) else ""
        if key and key not in by_key:
            by_key[key] = task
    return _Stage(name, tuple(_task(key, task, by_key) for key, task in by_key.items()))


def _task(key: str, raw: dict[str, Any], known: Collection[str]) -> _Task:
    raw_next = raw.get("next")
    entries = (
        [entry for entry in raw_next if isinstance(entry, dict)]
        if isinstance(raw_next, list)
        else []
    )
    edges = tuple(
        (_text(entry.get("taskDefinitionKey")), _text(entry.get("trigger"))) for entry in entries
    )
    kept = tuple(
        (target, trigger) for target, trigger in edges if target in known and trigger in TRIGGERS
    )
    return _Task(key, _text(raw.get("handlerKey")), kept)


# --- Layout: stages left to right, tasks in columns by depth, rows in definition order. ---


def _depth_first(successors: Mapping[str, list[str]]) -> tuple[list[str], set[tuple[str, str]]]:
    """Post-order of a walk from the entry tasks first, and the edges that close a cycle."""
    targets = {target for keys in successors.values() for target in keys}
    roots = [key for key in successors if key not in targets] + [
        k for k in successors if k in targets
    ]
    on_path: dict[str, bool] = {}
    order: list[str] = []
    back: set[tuple[str, str]] = set()
    for root in roots:
        if root in on_path:
            continue
        on_path[root] = True
        stack = [(root, iter(successors[root]))]
        while stack:
            key, pending = stack[-1]
            for target in pending:
                if target not in on_path:
                    on_path[target] = True
                    stack.append((target, iter(successors[target])))
                    break
                if on_path[target]:
                    back.add((key, target))
            else:
                on_path[key] = False
                order.append(key)
                stack.pop()
    return order, back


def _columns(stage: _Stage) -> list[list[_Task]]:
    """Tasks by depth: the longest path to them from the stage's entry tasks, cycles broken."""
    successors = {task.key: [target for target, _ in task.next] for task in stage.tasks}
    order, back = _depth_first(successors)
    depth = dict.fromkeys(successors, 0)
    for key in reversed(order):
        for target in successors[key]:
            if (key, target) not in back:
                depth[target] = max(depth[target], depth[key] + 1)
    columns: list[list[_Task]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for task in stage.tasks:
        columns[depth[task.key]].append(task)
    return columns


def _node_size(stages: list[_Stage], with_state: bool) -> _Size:
    tasks = [task for stage in stages for task in stage.tasks]
    text = max(
        (max(len(task.key) * KEY_CHAR, len(task.handler) * HANDLER_CHAR) for task in tasks),
        default=0,
    )
    # With states, room for the longest label: "succeeded · timed out".
    return _Size(min(max(text + 44, 164 if with_state else 150), 230), 66 if with_state else 50)


def _layout_stage(stage: _Stage, x: float, size: _Size) -> _StageLayout:
    columns = _columns(stage)
    rows = max((len(tasks) for tasks in columns), default=1)
    grid_width = len(columns) * (size.width + COL_GAP) - COL_GAP
    header_width = min(len(stage.name) * HEADER_CHAR, 320)
    layout = _StageLayout(
        stage,
        x,
        2 * STAGE_PAD + max(grid_width, header_width, size.width),
        HEADER + rows * (size.height + ROW_GAP) - ROW_GAP + STAGE_PAD,
    )
    for column, tasks in enumerate(columns):
        for row, task in enumerate(tasks):
            node_x = x + STAGE_PAD + column * (size.width + COL_GAP)
            layout.nodes[task.key] = _Node(task, node_x, _row_y(row, size), column)
    layout.tallest = _TallestColumn([len(tasks) for tasks in columns])
    layout.edges = _edges(layout, size, grid_bottom=MARGIN + layout.height - STAGE_PAD)
    return layout


def _spread(keys: list[tuple[str, float]], size: _Size) -> list[float]:
    """Vertical port offsets so that edges sharing a node side do not overlap."""
    ranks: dict[str, list[int]] = {}
    for index, (key, _) in enumerate(keys):
        ranks.setdefault(key, []).append(index)
    offsets = [0.0] * len(keys)
    for members in ranks.values():
        members.sort(key=lambda index: keys[index][1])
        step = min(PORT_STEP, (size.height - 16) / max(len(members) - 1, 1))
        for rank, index in enumerate(members):
            offsets[index] = (rank - (len(members) - 1) / 2) * step
    return offsets


def _edges(layout: _StageLayout, size: _Size, grid_bottom: float) -> list[_Edge]:
    nodes = layout.nodes
    links = [
        (node, nodes[target], trigger)
        for node in nodes.values()
        for target, trigger in node.task.next
    ]
    out = _spread([(source.task.key, target.y) for source, target, _ in links], size)
    into = _spread([(target.task.key, source.y) for source, target, _ in links], size)
    edges, lane = [], grid_bottom + ROW_GAP / 2
    for (source, target, trigger), out_dy, in_dy in zip(links, out, into, strict=True):
        start = (source.x + size.width, source.y + size.height / 2 + out_dy)
        end = (target.x, target.y + size.height / 2 + in_dy)
        if target.column <= source.column:
            path, label = _back_route(start, end, lane)
            lane += 14
        else:
            blocked = _blocking_bottom(layout, source, target, start, end, size)
            path, label = _forward_route(start, end, blocked)
        edges.append(_Edge(source.task.key, target.task.key, trigger, path, label))
        layout.height = max(layout.height, label[1] + 8 + STAGE_PAD - MARGIN)
    return edges


def _row_y(row: int, size: _Size) -> float:
    return MARGIN + HEADER + row * (size.height + ROW_GAP)


def _blocking_bottom(
    layout: _StageLayout,
    source: _Node,
    target: _Node,
    start: tuple[float, float],
    end: tuple[float, float],
    size: _Size,
) -> float | None:
    """Bottom of the lowest node a straight edge would cross, or None when the way is free.

    A node in between is crossed when it reaches into the band from `low` to `high` (with
    6 px to spare). Rows sit at the same heights in every column, so the lowest such node is
    in the row nearest `high` that the tallest column in between has: no walk over nodes.
    """
    low, high = sorted((start[1], end[1]))
    rows = layout.tallest(source.column + 1, target.column)
    step = size.height + ROW_GAP
    row = min(rows - 1, math.ceil((high + 6 - MARGIN - HEADER) / step))
    while row >= 0 and not _row_y(row, size) - 6 < high:
        row -= 1
    if row < 0 or not _row_y(row, size) + size.height + 6 > low:
        return None
    return _row_y(row, size) + size.height


def _n(value: float) -> str:
    return format(round(value, 1), ".1f").removesuffix(".0")


def _path(*parts: str | tuple[float, float]) -> str:
    """SVG path data from commands and points."""
    return " ".join(
        part if isinstance(part, str) else f"{_n(part[0])},{_n(part[1])}" for part in parts
    )


def _forward_route(
    start: tuple[float, float], end: tuple[float, float], blocked: float | None
) -> tuple[str, tuple[float, float]]:
    (sx, sy), (tx, ty) = start, end
    if blocked is None:
        bend = min((tx - sx) / 2, COL_GAP)
        path = _path("M", start, "C", (sx + bend, sy), (tx - bend, ty), end)
        return path, ((sx + tx) / 2, (sy + ty) / 2)
    # Around the nodes in between, through the gap below them.
    lane, half = blocked + ROW_GAP / 2, COL_GAP / 2
    path = _path("M", start, "C", (sx + half, sy), (sx + half, lane), (sx + COL_GAP, lane))
    path += " " + _path("L", (tx - COL_GAP, lane), "C", (tx - half, lane), (tx - half, ty), end)
    return path, ((sx + tx) / 2, lane)


def _back_route(
    start: tuple[float, float], end: tuple[float, float], lane: float
) -> tuple[str, tuple[float, float]]:
    """An edge closing a cycle: out to the right, back along a lane below all tasks."""
    # The bulge stays within the stage padding: a cubic reaches 3/4 of its control offset.
    (sx, sy), (tx, ty), bulge = start, end, STAGE_PAD
    path = _path("M", start, "C", (sx + bulge, sy), (sx + bulge, lane), (sx, lane))
    path += " " + _path("L", (tx, lane), "C", (tx - bulge, lane), (tx - bulge, ty), end)
    return path, ((sx + tx) / 2, lane)


def _layout(stages: list[_Stage], size: _Size) -> list[_StageLayout]:
    layouts, x = [], float(MARGIN)
    for stage in stages:
        layouts.append(_layout_stage(stage, x, size))
        x += layouts[-1].width + STAGE_GAP
    height = max((layout.height for layout in layouts), default=0)
    for layout in layouts:
        layout.height = height
    return layouts


# --- Drawing. ---

_KEY_TEXT = {"font_size": 13, "font_weight": 600, "fill": _INK}
_HANDLER_TEXT = {"font_size": 11, "fill": "#64748b"}
_HEADER_TEXT = {"font_size": 14, "font_weight": 600, "fill": _INK}
_BADGE_TEXT = {"font_size": 11, "font_weight": 600, "text_anchor": "middle", "fill": "#475569"}
_MUTED_TEXT = {"font_size": 12, "font_style": "italic", "fill": "#94a3b8"}
_STATE_TEXT = {"font_size": 10.5, "font_weight": 500}
_STAGE_BOX = {"rx": 12, "fill": _STAGE_FILL, "stroke": "#e2e8f0"}
_CLOCK_LINE = {"fill": "none", "stroke": _TIMED_OUT, "stroke_width": 1.5}
# The label's halo in the stage colour keeps it readable where it crosses its own line.
_EDGE_TEXT = {
    "font_size": 10, "font_weight": 500, "text_anchor": "middle", "stroke": _STAGE_FILL,
    "stroke_width": 4, "stroke_linejoin": "round", "paint_order": "stroke",
}  # fmt: skip
_MARKER = {
    "viewBox": "0 0 10 10", "refX": 9, "refY": 5, "markerWidth": 9, "markerHeight": 9,
    "markerUnits": "userSpaceOnUse", "orient": "auto",
}  # fmt: skip


def _esc(value: str) -> str:
    return escape(_NOT_XML.sub("\ufffd", value), {'"': "&quot;", "'": "&#x27;"})


def _el(tag: str, content: str = "", /, **attrs: object) -> str:
    """An SVG element with escaped attributes (`class_` is class, `_` in names is `-`)."""
    pairs = (
        (name.rstrip("_").replace("_", "-"), _n(value) if isinstance(value, float) else str(value))
        for name, value in attrs.items()
        if value is not None
    )
    head = tag + "".join(f' {name}="{_esc(value)}"' for name, value in pairs)
    return f"<{head}>{content}</{tag}>" if content else f"<{head}/>"


def _clip(text: str, width: float, char: float) -> str:
    limit = max(int(width // char), 2)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _state(states: Mapping[str, str] | None, key: str) -> str:
    value = states.get(key) if states is not None else None
    return NOT_STARTED if value is None else str(value)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _summary(stages: list[_Stage], states: Mapping[str, str] | None, late: set[str]) -> str:
    if not stages:
        return "Empty flow"
    parts = ", ".join(f"{stage.name} ({_plural(len(stage.tasks), 'task')})" for stage in stages)
    text = f"Flow with {_plural(len(stages), 'stage')}: {parts}"
    keys = [task.key for stage in stages for task in stage.tasks]
    if states is not None and keys:
        counts = Counter(_state(states, key) for key in keys)
        text += ". " + ", ".join(f"{count} {state}" for state, count in counts.items())
    late_count = sum(key in late for key in keys)
    return text + (f", {late_count} timed out" if late_count else "")


def _markers(prefix: str) -> str:
    return "".join(
        _el(
            "marker",
            _el("path", d="M0,1 L9,5 L0,9 z", fill=colour),
            id=f"{prefix}-{name}",
            **_MARKER,
        )
        for name, colour in _EDGE_COLOUR.items()
    )


def _stage_svg(layout: _StageLayout, index: int) -> str:
    x, y, width = layout.x, float(MARGIN), layout.width
    name = _clip(layout.stage.name, width - 2 * STAGE_PAD - 28, HEADER_CHAR)
    content = (
        _el("rect", x=x, y=y, width=width, height=layout.height, **_STAGE_BOX)
        + _el("circle", cx=x + 25, cy=y + 21, r=9, fill="#e2e8f0")
        + _el("text", str(index + 1), x=x + 25, y=y + 25, **_BADGE_TEXT)
        + _el("text", _esc(name), class_="stage-name", x=x + 42, y=y + 26, **_HEADER_TEXT)
    )
    if not layout.stage.tasks:
        content += _el("text", "No tasks", x=x + STAGE_PAD, y=y + HEADER + 20, **_MUTED_TEXT)
    return _el("g", content, class_="stage")


def _stage_arrow(left: _StageLayout, right: _StageLayout, size: _Size, prefix: str) -> str:
    y = MARGIN + HEADER + size.height / 2
    return _el(
        "path",
        class_="stage-arrow",
        d=_path("M", (left.x + left.width + 8, y), "L", (right.x - 8, y)),
        stroke=_EDGE_COLOUR["stage"],
        stroke_width=2,
        marker_end=f"url(#{prefix}-stage)",
    )


def _edge_svg(edge: _Edge, prefix: str) -> str:
    colour, (x, y) = _EDGE_COLOUR[edge.trigger], edge.label
    line = _el(
        "path",
        d=edge.path,
        fill="none",
        stroke=colour,
        stroke_width=1.75,
        stroke_dasharray="6 4" if edge.trigger == "timeout" else None,
        marker_end=f"url(#{prefix}-{edge.trigger})",
    )
    label = _el(
        "text", edge.trigger, class_="edge-label", x=x, y=y + 3.5, fill=colour, **_EDGE_TEXT
    )
    classes = f"edge edge--{edge.trigger}"
    return _el("g", line + label, class_=classes, data_source=edge.source, data_target=edge.target)


def _clock(x: float, y: float) -> str:
    face = _el("circle", cx=x, cy=y, r=7.5, **{**_CLOCK_LINE, "fill": "#fff7ed"})
    hands = _el("path", d=_path("M", (x, y - 4), "V", _n(y), "L", (x + 3, y + 2)), **_CLOCK_LINE)
    return _el("g", face + hands, class_="timeout-marker")


def _state_line(node: _Node, size: _Size, state: str, late: bool) -> str:
    accent = _STATE_STYLE.get(state, _UNKNOWN_STYLE)[2]
    label = _clip(state + (" · timed out" if late else ""), size.width - 36, 5.7)
    y = node.y + size.height - 14
    dot = _el("circle", cx=node.x + 16, cy=y - 3.5, r=3.5, fill=accent)
    return dot + _el(
        "text", _esc(label), class_="task-state", x=node.x + 25, y=y, fill=accent, **_STATE_TEXT
    )


def _node_classes(states: Mapping[str, str] | None, state: str, late: bool) -> str:
    classes = ["task"]
    if states is not None:
        classes.append(f"task--{state.replace(' ', '-') if state in STATES else 'unknown'}")
    return " ".join(classes + (["task--timed-out"] if late else []))


def _node_box(node: _Node, size: _Size, state: str | None, late: bool) -> str:
    fill, border, _ = _STATE_STYLE.get(state or "", _UNKNOWN_STYLE)
    return _el(
        "rect",
        x=node.x,
        y=node.y,
        width=size.width,
        height=size.height,
        rx=8,
        fill=fill,
        stroke=_TIMED_OUT if late else border,
        stroke_width=2.5 if late else 1.5,
        stroke_dasharray="5 3" if state == "cancelled" else None,
    )


def _node_svg(node: _Node, size: _Size, states: Mapping[str, str] | None, late: bool) -> str:
    task, state = node.task, _state(states, node.task.key)
    title = task.key + (f" ({task.handler})" if task.handler else "")
    title += (f": {state}" if states is not None else "") + (", timed out" if late else "")
    key = _clip(task.key, size.width - 24 - 18 * late, KEY_CHAR)
    handler = _clip(task.handler, size.width - 24, HANDLER_CHAR)
    left = node.x + 12
    content = (
        _el("title", _esc(title))
        + _node_box(node, size, state if states is not None else None, late)
        + _el("text", _esc(key), class_="task-key", x=left, y=node.y + 21, **_KEY_TEXT)
        + _el("text", _esc(handler), class_="task-handler", x=left, y=node.y + 37, **_HANDLER_TEXT)
    )
    if states is not None:
        content += _state_line(node, size, state, late)
    if late:
        content += _clock(node.x + size.width - 14, node.y + 14)
    classes = _node_classes(states, state, late)
    return _el("g", content, class_=classes, data_task_key=task.key)


def _svg(body: str, layouts: list[_StageLayout], label: str) -> str:
    width = layouts[-1].x + layouts[-1].width + MARGIN if layouts else 240.0
    height = layouts[0].height + 2 * MARGIN if layouts else 72.0
    return _el(
        "svg",
        body,
        xmlns="http://www.w3.org/2000/svg",
        class_="flow-graph",
        role="img",
        aria_label=label,
        viewBox=f"0 0 {_n(width)} {_n(height)}",
        width="100%",
        # Never wider than drawn: a small flow is not blown up to the page width.
        style=f"max-width: {_n(width)}px; height: auto",
        font_family=_FONT,
    )


def render_svg(
    definition: list[dict[str, Any]] | FlowDefinition,
    states: Mapping[str, str] | None = None,
    timed_out: Collection[str] = (),
) -> str:
    """The flow as an inline SVG; draws what it can of a partial or invalid definition.

    `states` maps task keys to their run state (tasks missing from it are "not started");
    without it the flow is drawn as a plain diagram. Tasks in `timed_out` get a clock marker.
    """
    stages = _stages(definition)
    late = {key for key in timed_out if isinstance(key, str)}
    size = _node_size(stages, with_state=states is not None)
    layouts = _layout(stages, size)
    # Ids must differ between graphs on one page; a hash keeps the output deterministic.
    prefix = "fg" + hashlib.blake2s(repr(stages).encode(), digest_size=4).hexdigest()
    body = [_el("defs", _markers(prefix))]
    body += [_stage_svg(layout, index) for index, layout in enumerate(layouts)]
    body += [_stage_arrow(left, right, size, prefix) for left, right in pairwise(layouts)]
    body += [_edge_svg(edge, prefix) for layout in layouts for edge in layout.edges]
    body += [
        _node_svg(node, size, states, node.task.key in late)
        for layout in layouts
        for node in layout.nodes.values()
    ]
    if not layouts:
        body.append(_el("text", "Nothing to draw yet", x=16, y=44, **_MUTED_TEXT))
    return _svg("".join(body), layouts, _summary(stages, states, late))
