"""Loading a flow run's state from its rows and writing a step's result back, atomically."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from django.db.models import Min, Q
from django.utils import timezone

from fabflow.flows.definition import FlowDefinition, parse_flow
from fabflow.flows.engine import interpreter as ip
from fabflow.flows.models import FlowRun, FlowVersion, TaskRun
from fabflow.orders.models import Order
from fabflow.orders.services import record_event
from fabflow.orders.updates import queue_update

RUN_FIELDS = ("state", "timed_out", "cancelled_by_failure", "reason")


@lru_cache(maxsize=256)
def _definition(version_id: Any, definition_json: str) -> FlowDefinition:
    import json

    return parse_flow(json.loads(definition_json))


def definition_of(version: FlowVersion) -> FlowDefinition:
    import json

    # Versions are immutable, so the parsed definition is cached by id and content.
    return _definition(version.id, json.dumps(version.definition, sort_keys=True))


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
    actor: str = "",
    now: datetime | None = None,
) -> list[ip.Command]:
    """Run the interpreter on `event` and persist everything it decided (call in atomic)."""
    now = now or timezone.now()
    definition = definition_of(flow_run.flow_version)
    before = load(flow_run, runs)
    after, commands = ip.step(definition, before, event, new_id=lambda: str(uuid.uuid4()))
    _persist_runs(flow_run, runs, before, after, commands, definition, now)
    flow_run.status, flow_run.stage = after.status, after.stage
    flow_run.generation = after.generation
    flow_run.save(update_fields=["status", "stage", "generation", "updated_at"])
    order = flow_run.order
    for command in commands:
        if isinstance(command, ip.Note):
            record_event(
                order,
                command.kind,
                command.message,
                actor=actor,
                data={"taskRunId": command.run_id} if command.run_id else {},
            )
    _sync_order_status(order, ip.order_status(after), actor)
    return commands


def _persist_runs(
    flow_run: FlowRun,
    runs: list[TaskRun],
    before: ip.FlowState,
    after: ip.FlowState,
    commands: list[ip.Command],
    definition: FlowDefinition,
    now: datetime,
) -> None:
    by_id = {str(r.id): r for r in runs}
    timeouts = {c.run_id: c.after_ms for c in commands if isinstance(c, ip.ScheduleTimeout)}
    old = {r.id: r for r in before.runs}
    for run in after.runs:
        row = by_id.get(run.id)
        if row is None:
            task = next(t for t in definition.root[run.stage].taskDefinitions if t.key == run.key)
            ms = timeouts.get(run.id)
            row = TaskRun.objects.create(
                id=run.id,
                flow_run=flow_run,
                order_id=flow_run.order_id,
                key=run.key,
                handler_key=task.handlerKey,
                stage=run.stage,
                generation=run.generation,
                attempt=run.attempt,
                timeout_at=now + timedelta(milliseconds=ms) if ms else None,
            )
            runs.append(row)
            continue
        if old.get(run.id) != run:
            changed = {f: getattr(run, f) for f in RUN_FIELDS}
            if run.state in ("succeeded", "failed", "cancelled") and row.finished_at is None:
                changed["finished_at"] = now
                changed["wake_at"] = None
            for name, value in changed.items():
                setattr(row, name, value)
            row.save(update_fields=list(changed))


def _sync_order_status(order: Order, status: str, actor: str) -> None:
    previous = order.status
    if previous == status:
        return
    Order.objects.filter(pk=order.pk).update(status=status, updated_at=timezone.now())
    order.status = status
    record_event(
        order,
        "order.status_changed",
        f"Status {previous} → {status}",
        actor=actor,
        data={"from": previous, "to": status},
    )
    queue_update(order, "order.status_changed", previous_status=previous)


def next_due(flow_run: FlowRun) -> datetime | None:
    """When a timer (wake-up, retry, timeout) of this flow run next falls due."""
    live = TaskRun.objects.filter(flow_run=flow_run, generation=flow_run.generation)
    times = live.filter(state__in=["pending", "running", "waiting"]).aggregate(
        wake=Min("wake_at"), timeout=Min("timeout_at", filter=Q(timed_out=False))
    )
    candidates = [t for t in (times["wake"], times["timeout"]) if t is not None]
    return min(candidates) if candidates else None


def snapshot(state: ip.FlowState) -> dict[str, Any]:
    return asdict(state)
