"""Flow graph: the mermaid source (stages, edges, states, escaping) and its page fragment."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest

from fabflow.flows.graph import STATES, flowchart, render_graph, summary

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
# Label text as the generator writes it: plain ASCII, entities, and its own <b> and <br/>.
LABEL = r"(?:[A-Za-z0-9 _.;#-]|<b>|</b>|<br/>)*"
# Every statement the generator may write; anything else would be mermaid syntax from user text.
STATEMENT = re.compile(
    rf"""flowchart\ TB
    |classDef\ [a-z]+\ [a-z:#0-9,\ -]+
    |\ \ subgraph\ s\d+\["{LABEL}"\]
    |\ \ \ \ s\d+(?:t\d+|e)\["{LABEL}"\]
    |\ \ end
    |\ \ s\d+(?:t\d+)?\ (?:-->|==>|-\.->)(?:\|(?:success|failure|timeout)\|)?\ s\d+(?:t\d+)?
    |\ \ linkStyle\ [\d,]+\ stroke:\#[0-9a-f]{{6}},color:\#[0-9a-f]{{6}}
    |\ \ class\ s\d+(?:t\d+|e)\ [a-z]+
    |\ \ empty\["Nothing\ to\ draw\ yet"\]
    |\ \ class\ empty\ empty""",
    re.VERBOSE,
)


def task(key: str, *next_keys: str, trigger: str = "success", handler: str = "wait") -> dict:
    return {
        "key": key,
        "handlerKey": handler,
        "next": [{"taskDefinitionKey": target, "trigger": trigger} for target in next_keys],
    }


def stage(name: str, *tasks: dict) -> dict:
    return {"key": name.lower(), "name": name, "taskDefinitions": list(tasks)}


def lines(source: str, prefix: str) -> list[str]:
    return [line.strip() for line in source.splitlines() if line.strip().startswith(prefix)]


def decode(label: str) -> str:
    """A label's text as mermaid shows it: entities decoded, our markup dropped."""
    text = re.sub(r"#(\d+);", lambda m: chr(int(m[1])), label)
    return text.replace("<b>", "").replace("</b>", "").replace("<br/>", "\n")


def labels(source: str) -> dict[str, str]:
    """Node and subgraph ids to their decoded labels."""
    return {m[1]: decode(m[2]) for m in re.finditer(r'(\w+)\["(.*?)"\]', source)}


def edges(source: str) -> list[tuple[str, str, str]]:
    found = re.findall(r"^ {2}(\w+) ([-=.>]+)(?:\|(\w+)\|)? (\w+)$", source, re.MULTILINE)
    return [(a, b, arrow + (f"|{trigger}|" if trigger else "")) for a, arrow, trigger, b in found]


def classes(source: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for node, css in re.findall(r"^ {2}class (\w+) (\w+)$", source, re.MULTILINE):
        found.setdefault(node, []).append(css)
    return found


def test_flows_md_example_is_one_stage_two_tasks_one_success_edge() -> None:
    # when
    source = flowchart(json.loads(FLOWS_MD_EXAMPLE))

    # then
    assert source.splitlines()[0] == "flowchart TB"
    assert labels(source) == {
        "s0": "1. Customer confirmation",
        "s0t0": "task-key-2\nasset-email",
        "s0t1": "task-key-3\nconsume-rest-api",
    }
    assert edges(source) == [("s0t0", "s0t1", "-->|success|")]


def test_three_stages_are_subgraphs_in_order_joined_top_to_bottom() -> None:
    # given
    raw = [stage("Prepare", task("a")), stage("Make", task("b")), stage("Ship", task("c"))]

    # when
    source = flowchart(raw)

    # then
    assert lines(source, "subgraph") == [
        'subgraph s0["1. Prepare"]',
        'subgraph s1["2. Make"]',
        'subgraph s2["3. Ship"]',
    ]
    assert edges(source) == [("s0", "s1", "-->"), ("s1", "s2", "-->")]
    assert lines(source, "linkStyle") == ["linkStyle 0,1 stroke:#94a3b8,color:#94a3b8"]


@pytest.mark.parametrize(
    ("trigger", "arrow", "colour"),
    [("success", "-->", "#16a34a"), ("failure", "==>", "#dc2626"), ("timeout", "-.->", "#ea580c")],
)
def test_each_trigger_has_its_own_line_style_and_colour(
    trigger: str, arrow: str, colour: str
) -> None:
    # given a stage before the one with the edge: its arrow is link 0
    raw = [stage("First", task("x")), stage("S", task("a", "b", trigger=trigger), task("b"))]

    # when
    source = flowchart(raw)

    # then
    assert edges(source) == [("s0", "s1", "-->"), ("s1t0", "s1t1", f"{arrow}|{trigger}|")]
    assert f"linkStyle 1 stroke:{colour},color:{colour}" in lines(source, "linkStyle")


@pytest.mark.parametrize(
    ("state", "css_class"),
    [(None, "notstarted"), *((s, s.replace(" ", "")) for s in STATES[1:]), ("weird", "unknown")],
)
def test_states_map_to_node_classes_and_labels(state: str | None, css_class: str) -> None:
    # given
    raw = [stage("S", task("a"))]
    states = {} if state is None else {"a": state}

    # when
    source = flowchart(raw, states)

    # then
    assert classes(source) == {"s0t0": [css_class]}
    assert labels(source)["s0t0"] == f"a\nwait\n{state or 'not started'}"
    assert f"classDef {css_class} " in source


def test_without_states_tasks_carry_no_state() -> None:
    # when
    source = flowchart([stage("S", task("a"))])

    # then
    assert classes(source) == {}
    assert labels(source)["s0t0"] == "a\nwait"


def test_timed_out_task_is_marked_in_class_and_label() -> None:
    # when
    source = flowchart([stage("S", task("a"), task("b"))], {"a": "waiting"}, timed_out={"a"})

    # then
    assert classes(source) == {"s0t0": ["waiting", "timedout"], "s0t1": ["notstarted"]}
    assert labels(source)["s0t0"] == "a\nwait\nwaiting · timed out"


@pytest.mark.parametrize(
    "definition",
    [
        pytest.param("not a list", id="not-a-list"),
        pytest.param([1, None, "x"], id="junk-stages"),
        pytest.param([{"name": 5, "taskDefinitions": "x"}], id="junk-stage-fields"),
        pytest.param([stage("S", 1, None, {"key": 7})], id="junk-tasks"),
        pytest.param(
            [stage("S", {"key": "a", "next": "b"}, {"key": "b", "next": [1, None, {}]})],
            id="next-junk",
        ),
        pytest.param(
            [stage("S", {"key": "a", "next": [{"taskDefinitionKey": ["b"], "trigger": {}}]})],
            id="next-wrong-types",
        ),
        pytest.param([stage("S", task("a", "b"), task("b", "c"), task("c", "a"))], id="cycle"),
        pytest.param([stage("S", task("a"), task("a", "a"))], id="duplicate-keys"),
        pytest.param([stage("S\nend", task("a\x00\x1b\ud800", handler="\x07"))], id="controls"),
        pytest.param([stage("Empty"), stage("S", task("a"))], id="empty-stage"),
    ],
)
def test_partial_definitions_give_only_the_generators_own_statements(definition: Any) -> None:
    # when
    source = flowchart(definition, {"a": "running"}, timed_out=["a"])

    # then
    assert [line for line in source.splitlines() if not STATEMENT.fullmatch(line)] == []


@pytest.mark.parametrize(
    "key",
    [
        "<script>alert(1)</script>",
        'a"] --> b["x',
        "x|y] end; click a call alert(1)",
        "%%{init: {'securityLevel': 'loose'}}%%",
        "#60;b#62; & `md` ü 😀",
        '"><svg onload=alert(1)>',
    ],
)
def test_hostile_keys_and_names_are_only_text(key: str) -> None:
    # given
    raw = [{"key": "s", "name": key, "taskDefinitions": [task(key, handler=key)]}]

    # when
    source = flowchart(raw, {key: key}, timed_out=[key])

    # then every line is the generator's own and the labels read back as the user's text
    assert [line for line in source.splitlines() if not STATEMENT.fullmatch(line)] == []
    assert labels(source) == {"s0": f"1. {key}", "s0t0": f"{key}\n{key}\n{key} · timed out"}


def test_long_text_is_clipped() -> None:
    # when
    source = flowchart([stage("S", task("k" * 100))])

    # then
    assert labels(source)["s0t0"] == "k" * 59 + "…\nwait"


def test_tasks_without_a_key_are_skipped_and_bad_next_entries_dropped() -> None:
    # given
    raw = [
        stage(
            "S",
            {"handlerKey": "wait"},
            task("a", "ghost", "b", "b"),
            {"key": "", "handlerKey": "wait"},
            task("b", "a", trigger="later"),
        )
    ]

    # when
    source = flowchart(raw)

    # then
    assert [k for k in labels(source) if k != "s0"] == ["s0t0", "s0t1"]
    assert edges(source) == [("s0t0", "s0t1", "-->|success|")]


def test_cycles_draw_every_edge() -> None:
    # when
    source = flowchart([stage("S", task("a", "b"), task("b", "c"), task("c", "a"))])

    # then
    assert [(a, b) for a, b, _ in edges(source)] == [
        ("s0t0", "s0t1"),
        ("s0t1", "s0t2"),
        ("s0t2", "s0t0"),
    ]


def test_stage_without_tasks_says_so() -> None:
    # when
    source = flowchart([stage("Empty"), stage("Next", task("a"))])

    # then
    assert labels(source)["s0e"] == "No tasks"
    assert classes(source) == {"s0e": ["empty"]}


def test_nothing_to_draw() -> None:
    assert labels(flowchart("not a list")) == {"empty": "Nothing to draw yet"}
    assert summary([]) == "Empty flow"


def test_summary_counts_stages_tasks_and_states() -> None:
    # given
    raw = [stage("Prepare", task("a"), task("b")), stage("Ship", task("c"))]

    # when
    text = summary(raw, {"a": "succeeded", "b": "running"}, timed_out={"b"})

    # then
    assert text == (
        "Flow with 2 stages: Prepare (2 tasks), Ship (1 task)."
        " 1 succeeded, 1 running, 1 not started, 1 timed out"
    )


def test_page_fragment_holds_escaped_source_caption_and_vendored_scripts() -> None:
    # given
    raw = [stage("<Prepare>", task("a"))]

    # when
    fragment = str(render_graph(raw, {"a": "failed"}))

    # then the browser's text of the <pre> is the source, and nothing is loaded from elsewhere
    pre = re.search(r'<pre class="mermaid" aria-hidden="true">(.*?)</pre>', fragment, re.DOTALL)
    assert pre is not None and html.unescape(pre[1]) == flowchart(raw, {"a": "failed"})
    assert "<figcaption" in fragment
    assert "Flow with 1 stage: &lt;Prepare&gt; (1 task). 1 failed</figcaption>" in fragment
    assert re.findall(r'<script src="([^"]+)"', fragment) == [
        "/static/vendor/mermaid/mermaid.min.js",
        "/static/fabflow/graph.js",
    ]


def test_output_is_deterministic() -> None:
    raw = json.loads(FLOWS_MD_EXAMPLE)
    assert flowchart(raw, {"task-key-2": "failed"}) == flowchart(raw, {"task-key-2": "failed"})
