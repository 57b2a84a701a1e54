"""The pure flow interpreter: every rule of docs/flows.md (Semantics) as tables of events."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import pytest

from fabflow.flows.definition import FlowDefinition, parse_flow
from fabflow.flows.engine.interpreter import (
    CancelRun,
    Command,
    Event,
    ExecuteTask,
    FlowState,
    InvalidTransition,
    Note,
    Restart,
    RetryTask,
    Run,
    ScheduleTimeout,
    Start,
    TaskFailed,
    TaskStarted,
    TaskSucceeded,
    TaskTimedOut,
    TaskWaiting,
    order_status,
    runs_to_execute,
    step,
)

# Definitions --------------------------------------------------------------------------------


def task(key: str, *targets: str | tuple[str, str], timeout: int | None = None) -> dict[str, Any]:
    """A wait task; a target is a key (trigger success) or a (key, trigger) pair."""
    pairs = [(target, "success") if isinstance(target, str) else target for target in targets]
    raw: dict[str, Any] = {
        "key": key,
        "handlerKey": "wait",
        "payload": {"durationMs": 0},
        "next": [{"taskDefinitionKey": k, "trigger": trigger} for k, trigger in pairs],
    }
    if timeout is not None:
        raw["timeoutDuration"] = timeout
    return raw


def manual(key: str, *targets: str | tuple[str, str]) -> dict[str, Any]:
    return {**task(key, *targets), "handlerKey": "manual-task", "payload": {"title": "Check"}}


def stage(key: str, *tasks: dict[str, Any]) -> dict[str, Any]:
    return {"key": key, "name": key.upper(), "taskDefinitions": list(tasks)}


def flow(*stages: dict[str, Any]) -> FlowDefinition:
    return parse_flow(list(stages))


ONE = flow(stage("s", task("a")))
PAIR = flow(stage("s", task("a"), task("b")))
CHAIN = flow(stage("s", task("a", "b"), task("b")))
ENTRIES = flow(stage("s", task("a", "c"), manual("b"), task("c")))
BRANCH = flow(stage("s", task("a", "b", ("c", "failure")), task("b"), task("c")))
TIMEOUTS = flow(stage("s", task("a", timeout=5000), task("b", timeout=0), task("c")))
TIMED = flow(
    stage(
        "s",
        task("a", ("b", "timeout"), ("c", "success"), ("d", "failure"), timeout=5000),
        task("b"),
        task("c"),
        task("d"),
    )
)
TIMEOUT_ONLY = flow(stage("s", task("a", timeout=5000)))
TIMEOUT_AND_PEER = flow(stage("s", task("a", timeout=5000), task("b")))
ONLY_TIMEOUT_ENTRY = flow(stage("s", task("a", ("b", "timeout")), task("b")))
DIAMOND = flow(stage("s", task("a", "c"), task("b", "c"), task("c")))
SAME_TARGET = flow(stage("s", task("a", ("c", "timeout"), "c", timeout=5000), task("c")))
TWO_STAGES = flow(stage("one", task("a"), task("b")), stage("two", task("c"), task("d")))
CHAIN_THEN_STAGE = flow(stage("one", task("a", "b"), task("b")), stage("two", task("c")))
HANDLED_THEN_STAGE = flow(
    stage("one", task("a", ("b", "failure")), task("b")), stage("two", task("c"))
)
HANDLED_LAST = flow(stage("s", task("a", ("b", "failure")), task("b")))


# Driving the interpreter --------------------------------------------------------------------

# An event spec: ("start",), ("restart",), (verb, key) for the latest run of `key`, or
# (verb, key, index) for the index-th run of `key` in creation order.
Spec = tuple[Any, ...]
TASK_EVENTS: dict[str, Callable[[str], Event]] = {
    "started": TaskStarted,
    "waiting": TaskWaiting,
    "succeeded": TaskSucceeded,
    "failed": lambda run_id: TaskFailed(run_id, "boom"),
    "timed_out": TaskTimedOut,
    "retry": RetryTask,
}


def counter() -> Callable[[], str]:
    numbers = itertools.count(1)
    return lambda: f"run-{next(numbers)}"


def run_of(state: FlowState, key: str, index: int = -1) -> Run:
    return [run for run in state.runs if run.key == key][index]


def event_of(state: FlowState, spec: Spec) -> Event:
    verb, *rest = spec
    if verb == "start":
        return Start()
    if verb == "restart":
        return Restart()
    key, *index = rest
    return TASK_EVENTS[verb](run_of(state, key, *index).id)


def apply(
    definition: FlowDefinition,
    specs: Sequence[Spec],
    state: FlowState | None = None,
    new_id: Callable[[], str] | None = None,
) -> tuple[FlowState, list[Command]]:
    """Apply the events in order; returns the final state and the commands of the last step."""
    state = state or FlowState()
    new_id = new_id or counter()
    commands: list[Command] = []
    for spec in specs:
        state, commands = step(definition, state, event_of(state, spec), new_id)
    return state, commands


def run_states(state: FlowState) -> dict[str, tuple[str, ...]]:
    """The state of every run, grouped by task key in creation order."""
    by_key: dict[str, tuple[str, ...]] = {}
    for run in state.runs:
        by_key[run.key] = (*by_key.get(run.key, ()), run.state)
    return by_key


def describe(command: Command, state: FlowState) -> str:
    """A command as `kind [detail] [task key]`, run ids resolved to task keys."""

    def key(run_id: str | None) -> str:
        run = state.run(run_id) if run_id else None
        return f" {run.key}" if run else ""

    if isinstance(command, Note):
        return f"note {command.kind}{key(command.run_id)}"
    kinds = {ExecuteTask: "execute", ScheduleTimeout: "timeout", CancelRun: "cancel"}
    return f"{kinds[type(command)]}{key(command.run_id)}"


# The table ----------------------------------------------------------------------------------


class Case(NamedTuple):
    definition: FlowDefinition
    events: list[Spec]
    runs: dict[str, tuple[str, ...]]
    flow: str
    order: str
    last: list[str]


STARTED = ["note flow.started", "note stage.started"]
RESTARTED = ["note flow.restarted", "note stage.started"]
P, R, W = "pending", "running", "waiting"
OK, KO, X = "succeeded", "failed", "cancelled"

# fmt: off
CASES = {
    # -- start and entry tasks --
    "not started: created, nothing to do": Case(ONE, [], {}, "created", "created", []),
    "start runs the entry task": Case(
        ONE, [("start",)], {"a": (P,)}, "running", "in_progress", [*STARTED, "execute a"]
    ),
    "entries start together; a next target is no entry": Case(
        ENTRIES, [("start",)], {"a": (P,), "b": (P,)}, "running", "in_progress",
        [*STARTED, "execute a", "execute b"],
    ),
    "timeout scheduled only for timeoutDuration > 0": Case(
        TIMEOUTS, [("start",)], {"a": (P,), "b": (P,), "c": (P,)}, "running", "in_progress",
        [*STARTED, "execute a", "timeout a", "execute b", "execute c"],
    ),
    # -- run transitions --
    "TaskStarted: pending -> running": Case(
        ONE, [("start",), ("started", "a")], {"a": (R,)}, "running", "in_progress", []
    ),
    "TaskWaiting: running -> waiting": Case(
        ONE, [("start",), ("started", "a"), ("waiting", "a")], {"a": (W,)}, "running",
        "in_progress", [],
    ),
    "waiting -> succeeded": Case(
        PAIR, [("start",), ("started", "a"), ("waiting", "a"), ("succeeded", "a")],
        {"a": (OK,), "b": (P,)}, "running", "in_progress", ["note task.succeeded a"],
    ),
    # -- triggers --
    "success starts the success entries": Case(
        BRANCH, [("start",), ("succeeded", "a")], {"a": (OK,), "b": (P,)}, "running",
        "in_progress", ["note task.succeeded a", "execute b"],
    ),
    "failure starts the failure entries (handled)": Case(
        BRANCH, [("start",), ("failed", "a")], {"a": (KO,), "c": (P,)}, "running",
        "in_progress", ["note task.failed a", "execute c"],
    ),
    "a handled failure lets the stage finish": Case(
        BRANCH, [("start",), ("failed", "a"), ("succeeded", "c")], {"a": (KO,), "c": (OK,)},
        "succeeded", "success", ["note task.succeeded c", "note flow.succeeded"],
    ),
    "timeout starts the timeout entries only": Case(
        TIMED, [("start",), ("timed_out", "a")], {"a": (P,), "b": (P,)}, "running",
        "unhealthy", ["note task.timed_out a", "execute b"],
    ),
    "a timeout fires once": Case(
        TIMED, [("start",), ("timed_out", "a"), ("timed_out", "a")], {"a": (P,), "b": (P,)},
        "running", "unhealthy", [],
    ),
    "success after a timeout fires the success entries": Case(
        TIMED, [("start",), ("timed_out", "a"), ("succeeded", "a")],
        {"a": (OK,), "b": (P,), "c": (P,)}, "running", "in_progress",
        ["note task.succeeded a", "execute c"],
    ),
    "failure after a timeout fires the failure entries": Case(
        TIMED, [("start",), ("timed_out", "a"), ("failed", "a")],
        {"a": (KO,), "b": (P,), "d": (P,)}, "running", "in_progress",
        ["note task.failed a", "execute d"],
    ),
    # -- unhandled failure --
    "unhandled failure fails the flow and cancels unfinished runs": Case(
        PAIR, [("start",), ("started", "b"), ("failed", "a")], {"a": (KO,), "b": (X,)},
        "failed", "failure", ["note task.failed a", "cancel b", "note flow.failed a"],
    ),
    "a timeout entry does not handle a failure": Case(
        ONLY_TIMEOUT_ENTRY, [("start",), ("failed", "a")], {"a": (KO,)}, "failed", "failure",
        ["note task.failed a", "note flow.failed a"],
    ),
    "failure wins over unhealthy": Case(
        TIMEOUT_AND_PEER, [("start",), ("timed_out", "a"), ("failed", "b")],
        {"a": (X,), "b": (KO,)}, "failed", "failure",
        ["note task.failed b", "cancel a", "note flow.failed b"],
    ),
    # -- stage progression --
    "stage not done while a run is pending": Case(
        TWO_STAGES, [("start",), ("succeeded", "a")], {"a": (OK,), "b": (P,)}, "running",
        "in_progress", ["note task.succeeded a"],
    ),
    "stage not done while a run is running": Case(
        TWO_STAGES, [("start",), ("started", "b"), ("succeeded", "a")], {"a": (OK,), "b": (R,)},
        "running", "in_progress", ["note task.succeeded a"],
    ),
    "stage not done while a run is waiting": Case(
        TWO_STAGES, [("start",), ("waiting", "b"), ("succeeded", "a")], {"a": (OK,), "b": (W,)},
        "running", "in_progress", ["note task.succeeded a"],
    ),
    "stage not done while a next target is pending": Case(
        CHAIN_THEN_STAGE, [("start",), ("succeeded", "a")], {"a": (OK,), "b": (P,)}, "running",
        "in_progress", ["note task.succeeded a", "execute b"],
    ),
    "a done stage starts the next stage's entries": Case(
        TWO_STAGES, [("start",), ("succeeded", "a"), ("succeeded", "b")],
        {"a": (OK,), "b": (OK,), "c": (P,), "d": (P,)}, "running", "in_progress",
        ["note task.succeeded b", "note stage.started", "execute c", "execute d"],
    ),
    "the last stage done: succeeded": Case(
        TWO_STAGES,
        [("start",), ("succeeded", "a"), ("succeeded", "b"), ("succeeded", "c"),
         ("succeeded", "d")],
        {"a": (OK,), "b": (OK,), "c": (OK,), "d": (OK,)}, "succeeded", "success",
        ["note task.succeeded d", "note flow.succeeded"],
    ),
    # -- unhealthy --
    "unhealthy while a timed-out run is pending": Case(
        TIMEOUT_ONLY, [("start",), ("timed_out", "a")], {"a": (P,)}, "running", "unhealthy",
        ["note task.timed_out a"],
    ),
    "unhealthy while a timed-out run is waiting": Case(
        TIMEOUT_ONLY, [("start",), ("waiting", "a"), ("timed_out", "a")], {"a": (W,)},
        "running", "unhealthy", ["note task.timed_out a"],
    ),
    "unhealthy clears when the timed-out run finishes": Case(
        TIMEOUT_AND_PEER, [("start",), ("timed_out", "a"), ("succeeded", "a")],
        {"a": (OK,), "b": (P,)}, "running", "in_progress", ["note task.succeeded a"],
    ),
    # -- at most once per stage activation --
    "two predecessors start their common target once": Case(
        DIAMOND, [("start",), ("succeeded", "a"), ("succeeded", "b")],
        {"a": (OK,), "b": (OK,), "c": (P,)}, "running", "in_progress", ["note task.succeeded b"],
    ),
    "a target of both timeout and success starts once": Case(
        SAME_TARGET, [("start",), ("timed_out", "a"), ("succeeded", "a")],
        {"a": (OK,), "c": (P,)}, "running", "in_progress", ["note task.succeeded a"],
    ),
    # -- idempotence and late events --
    "TaskSucceeded twice: the second is a no-op": Case(
        PAIR, [("start",), ("succeeded", "a"), ("succeeded", "a")], {"a": (OK,), "b": (P,)},
        "running", "in_progress", [],
    ),
    "TaskFailed after success is ignored": Case(
        PAIR, [("start",), ("succeeded", "a"), ("failed", "a")], {"a": (OK,), "b": (P,)},
        "running", "in_progress", [],
    ),
    "TaskTimedOut after the run ended is ignored": Case(
        TIMEOUT_AND_PEER, [("start",), ("succeeded", "a"), ("timed_out", "a")],
        {"a": (OK,), "b": (P,)}, "running", "in_progress", [],
    ),
    "TaskSucceeded of a cancelled run is ignored": Case(
        PAIR, [("start",), ("failed", "a"), ("succeeded", "b")], {"a": (KO,), "b": (X,)},
        "failed", "failure", [],
    ),
    "TaskStarted of a cancelled run is ignored": Case(
        PAIR, [("start",), ("failed", "a"), ("started", "b")], {"a": (KO,), "b": (X,)},
        "failed", "failure", [],
    ),
    "TaskSucceeded of an older generation is ignored": Case(
        PAIR, [("start",), ("restart",), ("succeeded", "a", 0)], {"a": (X, P), "b": (X, P)},
        "running", "in_progress", [],
    ),
    "TaskTimedOut of an older generation is ignored": Case(
        TIMEOUT_ONLY, [("start",), ("restart",), ("timed_out", "a", 0)], {"a": (X, P)},
        "running", "in_progress", [],
    ),
    # -- retry --
    "retry of a handled failure starts a new attempt": Case(
        BRANCH, [("start",), ("failed", "a"), ("retry", "a")], {"a": (KO, P), "c": (P,)},
        "running", "in_progress", ["note task.retried a", "execute a"],
    ),
    "retry after an unhandled failure resumes the cancelled runs": Case(
        PAIR, [("start",), ("failed", "a"), ("retry", "a")], {"a": (KO, P), "b": (X, P)},
        "running", "in_progress", ["note task.retried a", "execute a", "execute b"],
    ),
    "retry does not restart runs that had ended": Case(
        PAIR, [("start",), ("succeeded", "b"), ("failed", "a"), ("retry", "a")],
        {"a": (KO, P), "b": (OK,)}, "running", "in_progress",
        ["note task.retried a", "execute a"],
    ),
    "retry schedules the new attempt's timeout": Case(
        TIMEOUT_ONLY, [("start",), ("failed", "a"), ("retry", "a")], {"a": (KO, P)}, "running",
        "in_progress", ["note task.retried a", "execute a", "timeout a"],
    ),
    "the retried attempt's success fires the success entries": Case(
        CHAIN, [("start",), ("failed", "a"), ("retry", "a"), ("succeeded", "a")],
        {"a": (KO, OK), "b": (P,)}, "running", "in_progress",
        ["note task.succeeded a", "execute b"],
    ),
    "a resumed flow can succeed": Case(
        PAIR,
        [("start",), ("failed", "a"), ("retry", "a"), ("succeeded", "a"), ("succeeded", "b")],
        {"a": (KO, OK), "b": (X, OK)}, "succeeded", "success",
        ["note task.succeeded b", "note flow.succeeded"],
    ),
    "the retried attempt failing fails the flow again": Case(
        PAIR, [("start",), ("failed", "a"), ("retry", "a"), ("failed", "a")],
        {"a": (KO, KO), "b": (X, X)}, "failed", "failure",
        ["note task.failed a", "cancel b", "note flow.failed a"],
    ),
    "a failed retried attempt can be retried": Case(
        PAIR, [("start",), ("failed", "a"), ("retry", "a"), ("failed", "a"), ("retry", "a")],
        {"a": (KO, KO, P), "b": (X, X, P)}, "running", "in_progress",
        ["note task.retried a", "execute a", "execute b"],
    ),
    # -- restart --
    "restart cancels unfinished runs and restarts stage 0": Case(
        PAIR, [("start",), ("started", "a"), ("restart",)], {"a": (X, P), "b": (X, P)},
        "running", "in_progress",
        ["cancel a", "cancel b", *RESTARTED, "execute a", "execute b"],
    ),
    "restart of a failed flow": Case(
        PAIR, [("start",), ("failed", "a"), ("restart",)], {"a": (KO, P), "b": (X, P)},
        "running", "in_progress",
        [*RESTARTED, "execute a", "execute b"],
    ),
    "restart of a succeeded flow": Case(
        ONE, [("start",), ("succeeded", "a"), ("restart",)], {"a": (OK, P)}, "running",
        "in_progress", [*RESTARTED, "execute a"],
    ),
    "restart from a later stage goes back to stage 0": Case(
        TWO_STAGES, [("start",), ("succeeded", "a"), ("succeeded", "b"), ("restart",)],
        {"a": (OK, P), "b": (OK, P), "c": (X,), "d": (X,)}, "running", "in_progress",
        ["cancel c", "cancel d", *RESTARTED, "execute a", "execute b"],
    ),
    "restart clears unhealthy": Case(
        TIMEOUT_ONLY, [("start",), ("timed_out", "a"), ("restart",)], {"a": (X, P)}, "running",
        "in_progress",
        ["cancel a", *RESTARTED, "execute a", "timeout a"],
    ),
}
# fmt: on


@pytest.mark.parametrize("case", [pytest.param(case, id=name) for name, case in CASES.items()])
def test_event_sequence(case: Case) -> None:
    # given a flow definition / when the events are applied in order
    state, commands = apply(case.definition, case.events)
    # then the runs, the flow, the order status and the last step's commands are as expected
    assert run_states(state) == case.runs
    assert state.status == case.flow
    assert order_status(state) == case.order
    assert [describe(command, state) for command in commands] == case.last


class Refused(NamedTuple):
    definition: FlowDefinition
    given: list[Spec]
    event: Spec
    message: str


# fmt: off
REFUSED = {
    "Start twice": Refused(ONE, [("start",)], ("start",), "already started"),
    "Restart before Start": Refused(ONE, [], ("restart",), "has not started"),
    "retry of a pending run": Refused(ONE, [("start",)], ("retry", "a"), "only a failed task"),
    "retry of a running run": Refused(
        ONE, [("start",), ("started", "a")], ("retry", "a"), "only a failed task"
    ),
    "retry of a succeeded run": Refused(
        PAIR, [("start",), ("succeeded", "a")], ("retry", "a"), "only a failed task"
    ),
    "retry of a cancelled run": Refused(
        PAIR, [("start",), ("failed", "a")], ("retry", "b"), "only a failed task"
    ),
    "retry of the same failed run twice": Refused(
        PAIR, [("start",), ("failed", "a"), ("retry", "a")], ("retry", "a", 0),
        "already been retried",
    ),
    "retry of a failed run of an older generation": Refused(
        PAIR, [("start",), ("failed", "a"), ("restart",)], ("retry", "a", 0), "only a failed task"
    ),
    "retry of a failed run whose stage finished": Refused(
        HANDLED_THEN_STAGE, [("start",), ("failed", "a"), ("succeeded", "b")], ("retry", "a"),
        "stage has already finished",
    ),
}
# fmt: on


@pytest.mark.parametrize("case", [pytest.param(case, id=name) for name, case in REFUSED.items()])
def test_invalid_transition(case: Refused) -> None:
    # given a flow driven by some events
    state, _ = apply(case.definition, case.given)
    # when an event that does not apply is stepped / then it is refused
    with pytest.raises(InvalidTransition, match=case.message):
        step(case.definition, state, event_of(state, case.event), counter())


# Details the table does not show ------------------------------------------------------------


def test_ids_come_from_new_id_in_entry_order() -> None:
    # given a counter for run ids / when the flow starts
    state, commands = apply(TIMEOUTS, [("start",)])
    # then runs and commands carry the counter's ids in the stage's task order
    assert state.runs == (
        Run("run-1", "a", 0, 0),
        Run("run-2", "b", 0, 0),
        Run("run-3", "c", 0, 0),
    )
    assert commands == [
        Note("flow.started", "Flow started"),
        Note("stage.started", "Stage S started"),
        ExecuteTask("run-1"),
        ScheduleTimeout("run-1", 5000),
        ExecuteTask("run-2"),
        ExecuteTask("run-3"),
    ]
    assert runs_to_execute(commands) == ["run-1", "run-2", "run-3"]


def test_same_events_give_the_same_state_and_commands() -> None:
    # given the same events applied twice with fresh counters
    events = [("start",), ("failed", "a"), ("retry", "a"), ("succeeded", "a")]
    # when both are run / then the results are equal
    assert apply(PAIR, events) == apply(PAIR, events)


def test_step_leaves_the_given_state_untouched() -> None:
    # given a started flow
    before, _ = apply(PAIR, [("start",)])
    snapshot = FlowState(before.status, before.stage, before.generation, before.runs)
    # when a task fails
    after, _ = step(PAIR, before, TaskFailed("run-1", "boom"), counter())
    # then the input state is unchanged and the new state differs
    assert before == snapshot
    assert after.status == "failed"


def test_failure_records_reason_and_marks_the_cancelled_runs() -> None:
    # given two running tasks / when one fails without a failure entry
    state, commands = apply(PAIR, [("start",), ("failed", "a")])
    # then the reason is kept and the other run is cancelled by the failure
    assert state.runs == (
        Run("run-1", "a", 0, 0, state="failed", reason="boom"),
        Run("run-2", "b", 0, 0, state="cancelled", cancelled_by_failure=True),
    )
    assert commands[-1] == Note("flow.failed", "Task a failed: boom", "run-1")


def test_retry_creates_attempts_and_clears_the_cancellation_mark() -> None:
    # given a flow failed by a / when a is retried
    state, _ = apply(PAIR, [("start",), ("failed", "a"), ("retry", "a")])
    # then a and b get attempt 2 and b's old run is no longer marked as cancelled by failure
    assert state.runs == (
        Run("run-1", "a", 0, 0, state="failed", reason="boom"),
        Run("run-2", "b", 0, 0, state="cancelled"),
        Run("run-3", "a", 0, 0, attempt=2),
        Run("run-4", "b", 0, 0, attempt=2),
    )


def test_timed_out_run_is_marked() -> None:
    # given a task with a timeout / when it times out
    state, _ = apply(TIMEOUT_ONLY, [("start",), ("timed_out", "a")])
    # then its run is marked timed out and is still pending
    assert state.runs == (Run("run-1", "a", 0, 0, timed_out=True),)


def test_restart_bumps_the_generation() -> None:
    # given a running flow / when it is restarted
    state, _ = apply(ONE, [("start",), ("restart",)])
    # then the old run is cancelled (not by failure) and the new one has generation 1
    assert (state.generation, state.stage) == (1, 0)
    assert state.runs == (
        Run("run-1", "a", 0, 0, state="cancelled"),
        Run("run-2", "a", 0, 1),
    )


def test_runs_keep_the_stage_and_keys_of_the_definition_they_ran() -> None:
    # given a flow started and advanced to its second stage
    state, _ = apply(TWO_STAGES, [("start",), ("succeeded", "a"), ("succeeded", "b")])
    # then every run carries its task key and stage index
    assert [(run.key, run.stage) for run in state.runs] == [("a", 0), ("b", 0), ("c", 1), ("d", 1)]
    assert state.stage == 1


def test_the_definition_passed_is_the_one_that_runs() -> None:
    # given one state and two versions of the flow that differ in a's success entry
    v1 = flow(stage("s", task("a", "b", ("c", "failure")), task("b"), task("c")))
    v2 = flow(stage("s", task("a", "c", ("b", "failure")), task("b"), task("c")))
    state, _ = apply(v1, [("start",)])
    # when a succeeds under each version
    under_v1, _ = step(v1, state, TaskSucceeded("run-1"), counter())
    under_v2, _ = step(v2, state, TaskSucceeded("run-1"), counter())
    # then each follows its own definition: the interpreter holds no version of its own
    assert run_states(under_v1) == {"a": ("succeeded",), "b": ("pending",)}
    assert run_states(under_v2) == {"a": ("succeeded",), "c": ("pending",)}


# Retries that must not reopen a finished or failed flow ------------------------------------


def test_retry_after_the_flow_succeeded_is_refused() -> None:
    # given a flow that succeeded although its last stage had a handled failure
    state, _ = apply(HANDLED_LAST, [("start",), ("failed", "a"), ("succeeded", "b")])
    assert order_status(state) == "success"
    # when the failed run is retried / then it is refused like any finished stage
    with pytest.raises(InvalidTransition, match="stage has already finished"):
        step(HANDLED_LAST, state, event_of(state, ("retry", "a")), counter())


def test_only_the_run_that_failed_the_flow_resumes_it() -> None:
    # given b failed (handled by c) and then a failed without a failure entry
    definition = flow(stage("s", task("a"), task("b", ("c", "failure")), task("c")))
    state, _ = apply(definition, [("start",), ("failed", "b"), ("failed", "a")])
    assert order_status(state) == "failure"
    # when b is retried / then it is refused: resuming lets the flow succeed although a's
    # unhandled failure was never retried
    with pytest.raises(InvalidTransition, match="retry the task that failed the flow"):
        step(definition, state, event_of(state, ("retry", "b")), counter())
