"""The pure flow interpreter: step(definition, state, event) -> (state, commands). No Django.

Every rule of docs/flows.md (Semantics) lives here and nowhere else; the runner only loads
state, applies commands and executes handlers. Run ids come from a `new_id` callable so tests
stay deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from fabflow.flows.definition import FlowDefinition, TaskDefinition, entry_tasks
from fabflow.orders.kinds import EventKind

RunStateName = Literal["pending", "running", "waiting", "succeeded", "failed", "cancelled"]
FlowStatus = Literal["created", "running", "succeeded", "failed"]
Trigger = Literal["success", "failure", "timeout"]
UNFINISHED: frozenset[str] = frozenset({"pending", "running", "waiting"})


@dataclass(frozen=True)
class Run:
    """One execution of a task definition."""

    id: str
    key: str
    stage: int
    generation: int
    attempt: int = 1
    state: RunStateName = "pending"
    timed_out: bool = False
    cancelled_by_failure: bool = False
    reason: str = ""

    @property
    def unfinished(self) -> bool:
        return self.state in UNFINISHED


@dataclass(frozen=True)
class FlowState:
    status: FlowStatus = "created"
    stage: int = 0
    generation: int = 0
    runs: tuple[Run, ...] = ()

    def run(self, run_id: str) -> Run | None:
        return next((r for r in self.runs if r.id == run_id), None)

    def current(self) -> tuple[Run, ...]:
        """Runs of the current generation."""
        return tuple(r for r in self.runs if r.generation == self.generation)


# Events and commands --------------------------------------------------------------------------


@dataclass(frozen=True)
class Start:
    pass


@dataclass(frozen=True)
class Restart:
    pass


@dataclass(frozen=True)
class _AboutRun:
    run_id: str


class TaskStarted(_AboutRun): ...


class TaskWaiting(_AboutRun): ...


class TaskSucceeded(_AboutRun): ...


@dataclass(frozen=True)
class TaskFailed(_AboutRun):
    reason: str = ""


class TaskTimedOut(_AboutRun): ...


class RetryTask(_AboutRun): ...


Event = (
    Start
    | TaskStarted
    | TaskWaiting
    | TaskSucceeded
    | TaskFailed
    | TaskTimedOut
    | RetryTask
    | Restart
)


class ExecuteTask(_AboutRun):
    """Run the handler of a pending run."""


class CancelRun(_AboutRun): ...


@dataclass(frozen=True)
class ScheduleTimeout(_AboutRun):
    after_ms: int


@dataclass(frozen=True)
class Note:
    """A timeline entry."""

    kind: EventKind
    message: str
    run_id: str | None = None


Command = ExecuteTask | ScheduleTimeout | CancelRun | Note


class InvalidTransition(ValueError):
    """The event does not apply to the state (e.g. retrying a task that did not fail)."""


@dataclass
class _Step:
    definition: FlowDefinition
    state: FlowState
    new_id: Callable[[], str]
    commands: list[Command] = field(default_factory=list)

    # -- helpers --
    def task(self, key: str) -> TaskDefinition:
        return self.definition.task(self.state.stage, key)

    def put(self, run: Run) -> None:
        runs = tuple(run if r.id == run.id else r for r in self.state.runs)
        self.state = replace(self.state, runs=runs)

    def start(self, key: str, attempt: int = 1) -> None:
        """Start a task of the current stage, at most once per stage activation."""
        if attempt == 1 and any(
            r.key == key and r.stage == self.state.stage and r.state != "cancelled"
            for r in self.state.current()
        ):
            return
        task = self.task(key)
        run = Run(self.new_id(), key, self.state.stage, self.state.generation, attempt)
        self.state = replace(self.state, runs=(*self.state.runs, run))
        self.commands.append(ExecuteTask(run.id))
        if task.timeoutDuration:
            self.commands.append(ScheduleTimeout(run.id, task.timeoutDuration))

    def follow(self, run: Run, trigger: Trigger) -> bool:
        """Start the `next` entries of `run` with `trigger`; True when there were any."""
        targets = [n.taskDefinitionKey for n in self.task(run.key).next if n.trigger == trigger]
        for key in targets:
            self.start(key)
        return bool(targets)

    def enter_stage(self, index: int) -> None:
        if index >= len(self.definition.root):
            self.state = replace(self.state, status="succeeded")
            self.commands.append(Note(EventKind.FLOW_SUCCEEDED, "Flow finished successfully"))
            return
        stage = self.definition.root[index]
        self.state = replace(self.state, stage=index)
        self.commands.append(Note(EventKind.STAGE_STARTED, f"Stage {stage.name} started"))
        for key in entry_tasks(stage):
            self.start(key)

    def maybe_advance(self) -> None:
        if self.state.status != "running":
            return
        if any(r.unfinished and r.stage == self.state.stage for r in self.state.current()):
            return
        self.enter_stage(self.state.stage + 1)

    def cancel_unfinished(self, *, by_failure: bool) -> None:
        """Cancel the current runs still at work (`by_failure`: retrying the failed task that
        cancelled them starts them again)."""
        for run in self.state.current():
            if run.unfinished:
                self.put(replace(run, state="cancelled", cancelled_by_failure=by_failure))
                self.commands.append(CancelRun(run.id))


def _live_run(step: _Step, run_id: str) -> Run | None:
    """The run if the event may still change it; late events about ended runs are ignored."""
    run = step.state.run(run_id)
    if run is None or run.generation != step.state.generation or not run.unfinished:
        return None
    return run if step.state.status == "running" else None


def _on_start(step: _Step, event: Start) -> None:
    if step.state.status != "created":
        raise InvalidTransition("the flow has already started")
    step.state = replace(step.state, status="running")
    step.commands.append(Note(EventKind.FLOW_STARTED, "Flow started"))
    step.enter_stage(0)


def _on_progress(step: _Step, event: TaskStarted | TaskWaiting) -> None:
    run = _live_run(step, event.run_id)
    if run is not None:
        step.put(replace(run, state="running" if isinstance(event, TaskStarted) else "waiting"))


def _on_succeeded(step: _Step, event: TaskSucceeded) -> None:
    run = _live_run(step, event.run_id)
    if run is None:
        return
    run = replace(run, state="succeeded")
    step.put(run)
    step.commands.append(Note(EventKind.TASK_SUCCEEDED, f"Task {run.key} succeeded", run.id))
    step.follow(run, "success")
    step.maybe_advance()


def _on_failed(step: _Step, event: TaskFailed) -> None:
    run = _live_run(step, event.run_id)
    if run is None:
        return
    run = replace(run, state="failed", reason=event.reason)
    step.put(run)
    step.commands.append(
        Note(EventKind.TASK_FAILED, f"Task {run.key} failed: {event.reason}", run.id)
    )
    if step.follow(run, "failure"):
        step.maybe_advance()
        return
    step.cancel_unfinished(by_failure=True)
    step.state = replace(step.state, status="failed")
    step.commands.append(
        Note(EventKind.FLOW_FAILED, f"Task {run.key} failed: {run.reason}", run.id)
    )


def _on_timed_out(step: _Step, event: TaskTimedOut) -> None:
    run = _live_run(step, event.run_id)
    if run is None or run.timed_out:
        return
    run = replace(run, timed_out=True)
    step.put(run)
    step.commands.append(Note(EventKind.TASK_TIMED_OUT, f"Task {run.key} timed out", run.id))
    step.follow(run, "timeout")


def _on_retry(step: _Step, event: RetryTask) -> None:
    run = step.state.run(event.run_id)
    if run is None or run.generation != step.state.generation or run.state != "failed":
        raise InvalidTransition("only a failed task of the current run can be retried")
    if any(r.key == run.key and r.attempt > run.attempt for r in step.state.current()):
        raise InvalidTransition("this task has already been retried")
    if run.stage != step.state.stage or step.state.status == "succeeded":
        raise InvalidTransition("the task's stage has already finished")
    handled = any(n.trigger == "failure" for n in step.task(run.key).next)
    if step.state.status == "failed" and handled:
        # Only the run that failed the flow (one without a failure entry) may resume it.
        raise InvalidTransition("retry the task that failed the flow")
    resumed = step.state.status == "failed"
    step.state = replace(step.state, status="running", stage=run.stage)
    step.commands.append(Note(EventKind.TASK_RETRIED, f"Task {run.key} retried", run.id))
    step.start(run.key, attempt=run.attempt + 1)
    if resumed:
        for other in step.state.current():
            if other.cancelled_by_failure and other.stage == run.stage:
                step.put(replace(other, cancelled_by_failure=False))
                step.start(other.key, attempt=other.attempt + 1)


def _on_restart(step: _Step, event: Restart) -> None:
    if step.state.status == "created":
        raise InvalidTransition("the flow has not started")
    step.cancel_unfinished(by_failure=False)
    step.state = replace(step.state, status="running", generation=step.state.generation + 1)
    step.commands.append(Note(EventKind.FLOW_RESTARTED, "Flow restarted"))
    step.enter_stage(0)


_HANDLERS: dict[type, Callable[[_Step, Any], None]] = {
    Start: _on_start,
    TaskStarted: _on_progress,
    TaskWaiting: _on_progress,
    TaskSucceeded: _on_succeeded,
    TaskFailed: _on_failed,
    TaskTimedOut: _on_timed_out,
    RetryTask: _on_retry,
    Restart: _on_restart,
}


def step(
    definition: FlowDefinition, state: FlowState, event: Event, new_id: Callable[[], str]
) -> tuple[FlowState, list[Command]]:
    """Apply one event; returns the new state and what the runner must do."""
    work = _Step(definition, state, new_id)
    _HANDLERS[type(event)](work, event)
    return work.state, work.commands


_ORDER_STATUS = {"created": "created", "failed": "failure", "succeeded": "success"}


def order_status(state: FlowState) -> str:
    """The order status docs/flows.md derives from a flow's state."""
    if state.status in _ORDER_STATUS:
        return _ORDER_STATUS[state.status]
    if any(r.timed_out and r.unfinished for r in state.current()):
        return "unhealthy"
    return "in_progress"


def runs_to_execute(commands: Sequence[Command]) -> list[str]:
    return [c.run_id for c in commands if isinstance(c, ExecuteTask)]
