"""Flow definition caps, and validation work that grows linearly with the definition."""

from __future__ import annotations

import re
from typing import Any

import pytest

from fabflow.flows.definition import (
    MAX_DEFINITION_BYTES,
    MAX_STAGE_TASKS,
    MAX_STAGES,
    MAX_TASKS,
    DefinitionInvalid,
    parse_flow,
    validate_definition,
)
from fabflow.flows.graph import MAX_EDGES, flowchart


class CountedKey(str):
    """A task key that counts how often it is compared: the work of the graph checks.

    Looking a key up in a set or a dictionary compares it about once; scanning a list of keys
    compares it with each of them. Counting comparisons measures the algorithm, not the clock.
    """

    comparisons = 0

    def __eq__(self, other: object) -> bool:
        CountedKey.comparisons += 1
        return str.__eq__(self, other)

    __hash__ = str.__hash__


def task(key: str, *targets: str, **fields: Any) -> dict[str, Any]:
    next_ = [{"taskDefinitionKey": CountedKey(t), "trigger": "success"} for t in targets]
    return {"key": CountedKey(key), "handlerKey": "wait", "payload": {"durationMs": 1000},
            "next": next_, **fields}  # fmt: skip


def stage(key: str, tasks: list[dict[str, Any]]) -> dict[str, Any]:
    return {"key": key, "name": f"Stage {key}", "taskDefinitions": tasks}


def chain(prefix: str, length: int, *, back_to_start: bool = False) -> list[dict[str, Any]]:
    """t0 -> t1 -> ... -> t(n-1); with back_to_start, every task also points back to t0."""
    keys = [f"{prefix}{i}" for i in range(length)]
    tasks = []
    for index, key in enumerate(keys):
        targets = keys[index + 1 : index + 2]
        if back_to_start and index > 0:
            targets = [*targets, keys[0]]
        tasks.append(task(key, *targets))
    return tasks


def errors_of(raw: object) -> list[tuple[tuple[str | int, ...], str]]:
    return [(error.loc, error.msg) for error in validate_definition(raw)]


def many_stages(count: int, tasks_each: int = 1) -> list[dict[str, Any]]:
    return [stage(f"s{i}", chain(f"s{i}t", tasks_each)) for i in range(count)]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (many_stages(20_000), [((), "at most 100 stages; this flow has 20000")]),
        ([stage("s", chain("t", 10_000))],
         [((0, "taskDefinitions"), "at most 200 task definitions per stage; this stage has 10000"),
          ((), "at most 1000 task definitions in a flow; this flow has 10000")]),
        (many_stages(10, 150),
         [((), "at most 1000 task definitions in a flow; this flow has 1500")]),
        # 132 bytes of JSON around the body
        ([stage("s", [task("a", body="x" * MAX_DEFINITION_BYTES)])],
         [((), "at most 1048576 bytes as compact JSON; this flow has 1048708")]),
    ],
    ids=["20k-stages", "10k-task-chain", "1500-tasks", "over-1-MiB"],
)  # fmt: skip
def test_a_definition_over_a_cap_gets_only_the_cap_errors(raw: object, expected: list[Any]) -> None:
    # given a definition over a cap (the last one's big `body` is also an unknown field)
    # when validated / then only the caps it is over are reported, at what they count
    assert errors_of(raw) == expected


@pytest.mark.parametrize(
    ("stages", "tasks_each"),
    [(MAX_TASKS // MAX_STAGE_TASKS, MAX_STAGE_TASKS), (MAX_STAGES, MAX_TASKS // MAX_STAGES)],
    ids=["most-tasks-per-stage", "most-stages"],
)
def test_a_definition_at_the_caps_is_valid(stages: int, tasks_each: int) -> None:
    # given as many stages and tasks as the caps allow / when validated / then it is valid
    assert errors_of(many_stages(stages, tasks_each)) == []


@pytest.mark.parametrize("length", [50, 100, 200])
def test_graph_checks_compare_each_key_a_constant_number_of_times(length: int) -> None:
    # given a stage whose tasks form one long chain (keys that count their comparisons)
    raw = [stage("s", chain("t", length))]
    CountedKey.comparisons = 0
    # when validated
    errors = errors_of(raw)
    # then it is valid, and the work per task and next entry does not grow with the chain
    # (a walk that scanned its path for cycles compared ~length² / 2 times: 20,000 for 200)
    assert errors == []
    assert CountedKey.comparisons <= 6 * (length + length - 1)


def test_cycle_errors_cost_the_same_for_long_cycles() -> None:
    # given a chain of 200 tasks where every task also points back to the first
    raw = [stage("s", chain("t", MAX_STAGE_TASKS, back_to_start=True))]
    CountedKey.comparisons = 0
    # when validated
    errors = errors_of(raw)
    # then every back edge is one error naming the ends of its cycle, and the work stays
    # linear (the message shows at most 7 keys of a cycle)
    assert len(errors) == MAX_STAGE_TASKS
    assert errors[0] == (
        (0, "taskDefinitions", 199, "next", 0),
        "cycle: t0 -> t1 -> t2 -> ... (194 more) -> t197 -> t198 -> t199 -> t0",
    )
    assert errors[-2] == ((0, "taskDefinitions", 1, "next", 1), "cycle: t0 -> t1 -> t0")
    assert errors[-1] == (
        (0, "taskDefinitions"),
        "no entry task: every task of the stage is the target of a next entry",
    )
    assert CountedKey.comparisons <= 6 * (MAX_STAGE_TASKS + 2 * MAX_STAGE_TASKS - 1)


def test_a_next_entry_with_an_unhashable_trigger_is_a_shape_error() -> None:
    # given a next entry whose trigger is a list
    raw = [stage("s", [{**task("a"), "next": [{"taskDefinitionKey": "a", "trigger": ["x"]}]}])]
    # when validated / then it is reported like any wrong trigger (it used to raise TypeError)
    assert errors_of(raw)[0] == (
        (0, "taskDefinitions", 0, "next", 0, "trigger"),
        "Input should be 'success', 'failure' or 'timeout'",
    )


def test_parse_flow_runs_a_stored_version_over_the_caps() -> None:
    # given a version saved before the caps, with more tasks than a flow may now have
    raw = many_stages(11, 100)
    assert validate_definition(raw) != []
    # when the engine parses it / then it runs: the caps are for saving
    assert len(parse_flow(raw).root) == 11


def test_parse_flow_still_refuses_a_broken_definition() -> None:
    # given a stored definition with a next entry to nowhere / when parsed / then refused
    with pytest.raises(DefinitionInvalid):
        parse_flow([stage("s", [task("a", "zz")])])


def test_the_graph_draws_no_more_than_a_valid_flow_holds() -> None:
    # given an editor's text far over the caps (a 1,000-task chain in each of 150 stages)
    raw = [stage(f"s{i}", chain(f"s{i}t", 1_000)) for i in range(150)]
    # when drawn
    source = flowchart(raw)
    # then the first MAX_STAGE_TASKS tasks of each stage are drawn, MAX_TASKS in all
    nodes = re.findall(r"^ {4}s(\d+)t(\d+)\[", source, re.MULTILINE)
    assert len(nodes) == MAX_TASKS
    assert max(int(t) for _, t in nodes) == MAX_STAGE_TASKS - 1
    assert source.count("subgraph") == MAX_TASKS // MAX_STAGE_TASKS


def test_the_graph_draws_no_more_edges_than_its_cap() -> None:
    # given 1,000 tasks, each with 50 next entries to other tasks of its stage
    keys = [f"t{i}" for i in range(MAX_STAGE_TASKS)]
    targets = [[keys[(i + j) % len(keys)] for j in range(1, 51)] for i in range(len(keys))]
    tasks = [task(k, *t) for k, t in zip(keys, targets, strict=True)]
    raw = [stage(f"s{i}", tasks) for i in range(MAX_TASKS // MAX_STAGE_TASKS)]
    # when drawn
    source = flowchart(raw)
    # then no more than MAX_EDGES arrows (mermaid's maxEdges in fabflow/graph.js is above it)
    assert len(re.findall(r"^ {2}s\S* [-=.>]+", source, re.MULTILINE)) == MAX_EDGES
