"""A step of a flow run: the interpreter's decision on an event, applied to the run's rows.

The rows stay in memory while the lease is held; what a step changes is written through
`store` (task runs, flow run) and `orders.services` (the order's status), with its timeline
entries collected in the transaction's `Journal`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from django.utils import timezone

from fabflow.flows.definition import FlowDefinition, parse_flow
from fabflow.flows.engine import interpreter as ip
from fabflow.flows.engine.store import write_flow_run, write_run
from fabflow.flows.handlers.registry import payload_models
from fabflow.flows.models import FlowRun, FlowVersion, TaskRun
from fabflow.orders.services import change_status
from fabflow.orders.timeline import Journal

RUN_FIELDS = ("state", "timed_out", "cancelled_by_failure", "reason")
ENDED = ("succeeded", "failed", "cancelled")


@lru_cache(maxsize=512)
def definition_of(version: FlowVersion) -> FlowDefinition:
    """The parsed definition of a version, cached by id (a model hashes by it): versions are
    immutable (a save makes a new one), so a worker parses each once, not on every step. The
    payloads of every registered handler count: apps' and plugins' handlers run too."""
    return parse_flow(version.definition, payload_models())


def load(flow_run: FlowRun, runs: Sequence[TaskRun]) -> ip.FlowState:
    return ip.FlowState(
        status=flow_run.status,  # type: ignore[arg-type]
        stage=flow_run.stage,
        generation=flow_run.generation,
        runs=tuple(
            ip.Run(
                id=str(r.id),
                key=r.key,
                stage=r.stage,
                generation=r.generation,
                attempt=r.attempt,
                state=r.state,  # type: ignore[arg-type]
                timed_out=r.timed_out,
                cancelled_by_failure=r.cancelled_by_failure,
                reason=r.reason,
            )
            for r in runs
        ),
    )


def apply_step(
    flow_run: FlowRun,
    runs: list[TaskRun],
    event: ip.Event,
    *,
    journal: Journal,
    actor: str = "",
    now: datetime | None = None,
    touch: Mapping[str, Mapping[str, Any]] | None = None,
    flow_run_changes: dict[str, Any] | None = None,
) -> list[ip.Command]:
    """Run the interpreter on `event` and write what it decided (call inside atomic).

    `runs` is the flow run's rows in memory: they are updated in place and new runs are
    appended *unsaved*, so that later changes in the same transaction (starting the run) go
    into their INSERT; the caller writes them with `insert_new` before it commits. `touch`
    adds field values of runs to write in the same statement as their state. With
    `flow_run_changes`, the flow run's new position goes into that dictionary for the caller
    to write (with the lease's release, in one statement) instead of being written here.
    """
    now = now or timezone.now()
    definition = definition_of(flow_run.flow_version)
    before = load(flow_run, runs)
    after, commands = ip.step(definition, before, event, new_id=lambda: str(uuid.uuid4()))
    _persist_runs(flow_run, runs, before, after, commands, definition, now, touch or {})
    position = (after.status, after.stage, after.generation)
    if position != (flow_run.status, flow_run.stage, flow_run.generation):
        flow_run.status, flow_run.stage, flow_run.generation = position
        flow_run.updated_at = now
        changes = {
            "status": after.status,
            "stage": after.stage,
            "generation": after.generation,
            "updated_at": now,
        }
        if flow_run_changes is None:
            write_flow_run(flow_run, changes)
        else:
            flow_run_changes.update(changes)
    order = flow_run.order
    for command in commands:
        if isinstance(command, ip.Note):
            data = {"taskRunId": command.run_id} if command.run_id else {}
            journal.event(order, command.kind, command.message, actor=actor, data=data)
    change_status(order=order, status=ip.order_status(after), actor=actor, journal=journal)
    return commands


def _persist_runs(
    flow_run: FlowRun,
    runs: list[TaskRun],
    before: ip.FlowState,
    after: ip.FlowState,
    commands: list[ip.Command],
    definition: FlowDefinition,
    now: datetime,
    touch: Mapping[str, Mapping[str, Any]],
) -> None:
    by_id = {str(r.id): r for r in runs}
    timeouts = {c.run_id: c.after_ms for c in commands if isinstance(c, ip.ScheduleTimeout)}
    old = {r.id: r for r in before.runs}
    created: list[TaskRun] = []
    for run in after.runs:
        row = by_id.get(run.id)
        if row is None:
            created.append(_new_row(flow_run, run, definition, timeouts.get(run.id), now, touch))
            continue
        changed: dict[str, Any] = dict(touch.get(run.id, {}))
        if old.get(run.id) != run:
            changed.update({f: getattr(run, f) for f in RUN_FIELDS})
            if run.state in ENDED and row.finished_at is None:
                changed["finished_at"] = now
                changed["wake_at"] = None
        if changed:
            write_run(row, changed)
    runs.extend(created)


def _new_row(
    flow_run: FlowRun,
    run: ip.Run,
    definition: FlowDefinition,
    timeout_ms: int | None,
    now: datetime,
    touch: Mapping[str, Mapping[str, Any]],
) -> TaskRun:
    task = definition.task(run.stage, run.key)
    row = TaskRun(
        id=run.id,
        flow_run=flow_run,
        order=flow_run.order,
        key=run.key,
        handler_key=task.handlerKey,
        stage=run.stage,
        generation=run.generation,
        attempt=run.attempt,
        state=run.state,
        timeout_at=now + timedelta(milliseconds=timeout_ms) if timeout_ms else None,
        created_at=now,
    )
    for name, value in touch.get(run.id, {}).items():
        setattr(row, name, value)
    return row


def next_due(runs: Sequence[TaskRun], generation: int) -> datetime | None:
    """When a timer (wake-up, retry, timeout) of these runs next falls due."""
    times = [
        t
        for r in runs
        if r.generation == generation and r.unfinished
        for t in (r.wake_at, None if r.timed_out else r.timeout_at)
        if t is not None
    ]
    return min(times) if times else None
