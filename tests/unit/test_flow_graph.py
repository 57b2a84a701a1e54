"""Flow graph SVG: structure, states, edges, layout, partial definitions and escaping."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from fabflow.flows.definition import FlowDefinition
from fabflow.flows.graph import TRIGGERS, render_svg

SVG = "{http://www.w3.org/2000/svg}"
FLOWS_MD_EXAMPLE = r"""
[
  {"key": "confirm", "name": "Customer confirmation", "taskDefinitions": [
    {"key": "task-key-2", "handlerKey": "asset-email",
     "payload": {"filter": "^\\s*(.*\\.[zZ][iI][pP])\\s*$",
                 "recipients": ["{customerEmail}", "ops@shop.example"],
                 "subject": "Your files", "body": "Dear {customerInfo.name},<br>{assetOverview}",
                 "needConfirmation": true},
     "timeoutDuration": 86400000,
     "next": [{"taskDefinitionKey": "task-key-3", "trigger": "success"}]},
    {"key": "task-key-3", "handlerKey": "consume-rest-api",
     "payload": {"uri": "https://connector.example/export", "sendsFeedback": true},
     "timeoutDuration": 3600000, "next": []}
  ]}
]
"""


def task(key: str, *next_keys: str, trigger: str = "success", handler: str = "wait") -> dict:
    return {
        "key": key,
        "handlerKey": handler,
        "next": [{"taskDefinitionKey": target, "trigger": trigger} for target in next_keys],
    }


def stage(name: str, *tasks: dict) -> dict:
    return {"key": name.lower(), "name": name, "taskDefinitions": list(tasks)}


def parse(svg: str) -> ET.Element:
    # Our own output, parsed to check its structure; being well-formed is part of the contract.
    return ET.fromstring(svg)  # noqa: S314


def classes(element: ET.Element) -> set[str]:
    return set(element.get("class", "").split())


def groups(root: ET.Element, css_class: str) -> list[ET.Element]:
    return [element for element in root.iter(f"{SVG}g") if css_class in classes(element)]


def tasks_by_key(root: ET.Element) -> dict[str, ET.Element]:
    return {str(group.get("data-task-key")): group for group in groups(root, "task")}


def rect(group: ET.Element) -> ET.Element:
    found = group.find(f"{SVG}rect")
    assert found is not None
    return found


def box(group: ET.Element) -> tuple[float, float]:
    return float(rect(group).get("x", "nan")), float(rect(group).get("y", "nan"))


def text_of(group: ET.Element, css_class: str) -> str:
    found = [el.text or "" for el in group.iter(f"{SVG}text") if css_class in classes(el)]
    assert len(found) == 1
    return found[0]


@pytest.mark.parametrize("as_model", [False, True], ids=["raw-json", "flow-definition"])
def test_flows_md_example_draws_one_stage_two_tasks_one_success_edge(as_model: bool) -> None:
    # given
    raw = json.loads(FLOWS_MD_EXAMPLE)
    definition = FlowDefinition.model_validate(raw) if as_model else raw

    # when
    root = parse(render_svg(definition))

    # then
    assert classes(root) == {"flow-graph"}
    assert [text_of(g, "stage-name") for g in groups(root, "stage")] == ["Customer confirmation"]
    assert list(tasks_by_key(root)) == ["task-key-2", "task-key-3"]
    edges = groups(root, "edge")
    assert [(e.get("data-source"), e.get("data-target")) for e in edges] == [
        ("task-key-2", "task-key-3")
    ]
    assert classes(edges[0]) == {"edge", "edge--success"}


def test_task_nodes_show_key_handler_and_title() -> None:
    # given
    raw = json.loads(FLOWS_MD_EXAMPLE)

    # when
    node = tasks_by_key(parse(render_svg(raw, {"task-key-2": "succeeded"})))["task-key-2"]

    # then
    assert text_of(node, "task-key") == "task-key-2"
    assert text_of(node, "task-handler") == "asset-email"
    assert text_of(node, "task-state") == "succeeded"
    title = node.find(f"{SVG}title")
    assert title is not None and title.text == "task-key-2 (asset-email): succeeded"


def test_svg_scales_and_is_labelled_for_assistive_technology() -> None:
    # given
    raw = [stage("Confirm", task("a")), stage("Ship", task("b"), task("c"))]

    # when
    root = parse(render_svg(raw, {"a": "succeeded"}))

    # then
    assert root.get("width") == "100%"
    assert root.get("role") == "img"
    assert root.get("viewBox", "").startswith("0 0 ")
    assert root.get("aria-label") == (
        "Flow with 2 stages: Confirm (1 task), Ship (2 tasks). 1 succeeded, 2 not started"
    )


@pytest.mark.parametrize(
    ("state", "css_class", "label"),
    [
        ("pending", "task--pending", "pending"),
        ("running", "task--running", "running"),
        ("waiting", "task--waiting", "waiting"),
        ("succeeded", "task--succeeded", "succeeded"),
        ("failed", "task--failed", "failed"),
        ("cancelled", "task--cancelled", "cancelled"),
        (None, "task--not-started", "not started"),
        ("exploded", "task--unknown", "exploded"),
    ],
)
def test_states_map_to_classes_and_labels(state: str | None, css_class: str, label: str) -> None:
    # given
    raw = [stage("S", task("a"))]
    states = {} if state is None else {"a": state}

    # when
    node = tasks_by_key(parse(render_svg(raw, states)))["a"]

    # then
    assert classes(node) == {"task", css_class}
    assert text_of(node, "task-state") == label


def test_without_states_tasks_carry_no_state() -> None:
    # given
    raw = [stage("S", task("a"))]

    # when
    node = tasks_by_key(parse(render_svg(raw)))["a"]

    # then
    assert classes(node) == {"task"}
    assert [el for el in node.iter(f"{SVG}text") if "task-state" in classes(el)] == []


def test_cancelled_tasks_have_a_dashed_border() -> None:
    # given
    raw = [stage("S", task("a"), task("b"))]

    # when
    nodes = tasks_by_key(parse(render_svg(raw, {"a": "cancelled", "b": "failed"})))

    # then
    dashes = {key: rect(node).get("stroke-dasharray") for key, node in nodes.items()}
    assert dashes == {"a": "5 3", "b": None}


def test_timed_out_task_gets_a_clock_marker() -> None:
    # given
    raw = [stage("S", task("a", "b"), task("b"))]

    # when
    nodes = tasks_by_key(parse(render_svg(raw, {"a": "waiting"}, timed_out={"a"})))

    # then
    assert classes(nodes["a"]) == {"task", "task--waiting", "task--timed-out"}
    assert len(groups(nodes["a"], "timeout-marker")) == 1
    assert groups(nodes["b"], "timeout-marker") == []
    title = nodes["a"].find(f"{SVG}title")
    assert title is not None and title.text == "a (wait): waiting, timed out"


@pytest.mark.parametrize("trigger", TRIGGERS)
def test_each_trigger_draws_its_edge_class_and_arrowhead(trigger: str) -> None:
    # given
    raw = [stage("S", task("a", "b", trigger=trigger), task("b"))]

    # when
    root = parse(render_svg(raw))

    # then
    [edge] = groups(root, "edge")
    assert classes(edge) == {"edge", f"edge--{trigger}"}
    assert text_of(edge, "edge-label") == trigger
    path = edge.find(f"{SVG}path")
    assert path is not None
    assert path.get("d", "").startswith("M") and " C" in path.get("d", "")
    assert (path.get("stroke-dasharray") is not None) is (trigger == "timeout")
    marker_ids = {marker.get("id") for marker in root.iter(f"{SVG}marker")}
    assert path.get("marker-end", "").removeprefix("url(#").removesuffix(")") in marker_ids


def test_one_arrowhead_marker_per_colour() -> None:
    # given
    raw = [stage("S", task("a", "b", trigger="failure"), task("b"))]

    # when
    markers = list(parse(render_svg(raw)).iter(f"{SVG}marker"))

    # then
    fills = [child.get("fill") for marker in markers for child in marker]
    assert len(markers) == 4
    assert len(set(fills)) == 4
    assert len({marker.get("id") for marker in markers}) == 4


def test_stages_are_drawn_left_to_right_with_an_arrow_between() -> None:
    # given
    raw = [stage("First", task("a")), stage("Second", task("b")), stage("Third", task("c"))]

    # when
    root = parse(render_svg(raw))

    # then
    stages = groups(root, "stage")
    assert [text_of(g, "stage-name") for g in stages] == ["First", "Second", "Third"]
    xs = [box(g)[0] for g in stages]
    assert xs == sorted(xs) and len(set(xs)) == 3
    nodes = tasks_by_key(root)
    assert box(nodes["a"])[0] < box(nodes["b"])[0] < box(nodes["c"])[0]
    arrows = [p for p in root.iter(f"{SVG}path") if classes(p) == {"stage-arrow"}]
    assert len(arrows) == 2


@pytest.mark.parametrize(
    ("tasks", "columns"),
    [
        ([task("a", "b"), task("b", "c"), task("c")], [["a"], ["b"], ["c"]]),
        ([task("c"), task("b", "c"), task("a", "b")], [["a"], ["b"], ["c"]]),
        # Longest path: c follows b even though a points to it directly.
        ([task("a", "b", "c"), task("b", "c"), task("c")], [["a"], ["b"], ["c"]]),
        ([task("a", "c"), task("b", "c"), task("c")], [["a", "b"], ["c"]]),
    ],
    ids=["chain", "chain-defined-backwards", "longest-path", "two-entries"],
)
def test_tasks_are_laid_out_in_columns_by_depth(
    tasks: list[dict], columns: list[list[str]]
) -> None:
    # given
    raw = [stage("S", *tasks)]

    # when
    positions = {key: box(node) for key, node in tasks_by_key(parse(render_svg(raw))).items()}

    # then
    by_x: dict[float, list[tuple[float, str]]] = {}
    for key, (x, y) in positions.items():
        by_x.setdefault(x, []).append((y, key))
    assert [[key for _, key in sorted(by_x[x])] for x in sorted(by_x)] == columns


@pytest.mark.parametrize(
    "definition",
    [
        pytest.param(None, id="none"),
        pytest.param("not a list", id="string"),
        pytest.param({"key": "s"}, id="object"),
        pytest.param([], id="empty"),
        pytest.param([1, "x", None], id="junk-stages"),
        pytest.param([{}], id="empty-stage"),
        pytest.param([{"name": "No tasks"}], id="stage-without-tasks"),
        pytest.param([{"name": "S", "taskDefinitions": "nope"}], id="tasks-not-a-list"),
        pytest.param([{"name": "S", "taskDefinitions": []}], id="no-tasks"),
        pytest.param(
            [{"name": 7, "taskDefinitions": [{"handlerKey": "no-key"}, {"key": ["x"]}, 3]}],
            id="keys-missing-or-wrong",
        ),
        pytest.param(
            [stage("S", {"key": "a", "next": "b"}, {"key": "b", "next": [1, None, {}]})],
            id="next-junk",
        ),
        pytest.param(
            [stage("S", {"key": "a", "next": [{"taskDefinitionKey": ["b"], "trigger": {}}]})],
            id="next-wrong-types",
        ),
        pytest.param([stage("S", task("a", "ghost"), task("b", "b"))], id="unknown-and-self"),
        pytest.param([stage("S", task("a", "b"), task("b", "c"), task("c", "a"))], id="cycle"),
        pytest.param([stage("S", task("a", "a", "a"))], id="self-loop-twice"),
        pytest.param([stage("S", task("a"), task("a", "a"))], id="duplicate-keys"),
        pytest.param([stage("S", task("a\x00\x1b\ud800", handler="\x07"))], id="control-chars"),
    ],
)
def test_partial_definitions_render_well_formed_xml(definition: Any) -> None:
    # when
    svg = render_svg(definition, {"a": "running"}, timed_out=["a"])

    # then
    assert classes(parse(svg)) == {"flow-graph"}


def test_tasks_without_a_key_are_skipped() -> None:
    # given
    raw = [stage("S", {"handlerKey": "wait"}, task("a"), {"key": "", "handlerKey": "wait"})]

    # when
    root = parse(render_svg(raw))

    # then
    assert list(tasks_by_key(root)) == ["a"]


def test_next_to_an_unknown_key_is_ignored() -> None:
    # given
    raw = [stage("S", task("a", "ghost"), task("b"))]

    # when
    root = parse(render_svg(raw))

    # then
    assert list(tasks_by_key(root)) == ["a", "b"]
    assert groups(root, "edge") == []


def test_cycles_are_broken_for_layout_and_every_edge_is_drawn() -> None:
    # given
    raw = [stage("S", task("a", "b"), task("b", "c"), task("c", "a"))]

    # when
    root = parse(render_svg(raw))

    # then
    positions = {key: box(node)[0] for key, node in tasks_by_key(root).items()}
    assert positions["a"] < positions["b"] < positions["c"]
    assert [(e.get("data-source"), e.get("data-target")) for e in groups(root, "edge")] == [
        ("a", "b"),
        ("b", "c"),
        ("c", "a"),
    ]


def test_stage_without_tasks_says_so() -> None:
    # given
    raw = [stage("Empty"), stage("Next", task("a"))]

    # when
    root = parse(render_svg(raw))

    # then
    empty = groups(root, "stage")[0]
    assert [el.text for el in empty.iter(f"{SVG}text")][-1] == "No tasks"


def test_nothing_to_draw_gives_an_empty_labelled_graph() -> None:
    # when
    root = parse(render_svg("not a list"))  # type: ignore[arg-type]

    # then
    assert root.get("aria-label") == "Empty flow"
    assert groups(root, "stage") == []


@pytest.mark.parametrize(
    "key",
    ["<script>alert(1)</script>", 'say "hi"', "it's & <b>", '"><svg onload=alert(1)>'],
)
def test_user_text_is_escaped(key: str) -> None:
    # given
    raw = [{"key": "s", "name": key, "taskDefinitions": [task(key, handler=key)]}]

    # when
    svg = render_svg(raw, {key: "running"}, timed_out=[key])
    root = parse(svg)

    # then
    assert "<script>" not in svg and "<b>" not in svg and "<svg onload" not in svg
    [node] = groups(root, "task")
    assert node.get("data-task-key") == key
    title = node.find(f"{SVG}title")
    assert title is not None and title.text == f"{key} ({key}): running, timed out"
    assert key in (root.get("aria-label") or "")


def test_rendering_is_deterministic() -> None:
    # given
    raw = json.loads(FLOWS_MD_EXAMPLE)

    # when
    first = render_svg(raw, {"task-key-2": "failed"})
    second = render_svg(raw, {"task-key-2": "failed"})

    # then
    assert first == second
