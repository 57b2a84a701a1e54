"""The runner: the only place where the database meets the interpreter.

One worker at a time holds a flow run's lease and advances it: outside events first, then
timeouts that fell due, then task runs ready to execute. Each decision is one transaction
(state, task runs, timeline, order status, queued updates); handlers run outside any
transaction. A worker killed at any instant leaves a consistent state behind, and the lease
expiry lets another worker continue.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from fabflow.core.outbound import backoff_delay
from fabflow.flows.engine import interpreter as ip
from fabflow.flows.engine import store
from fabflow.flows.engine.context import build
from fabflow.flows.handlers import base, registry
from fabflow.flows.models import FlowInbox, FlowRun, TaskRun
from fabflow.orders.services import record_event
from fabflow.orders.updates import queue_update

log = logging.getLogger(__name__)
MAX_STEPS = 200


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def _lease(flow_run_id: str, owner: str, now: datetime) -> bool:
    until = now + timedelta(seconds=settings.FABFLOW_LEASE_SECONDS)
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now) | Q(lease_owner=owner)
    return bool(
        FlowRun.objects.filter(free, pk=flow_run_id).update(lease_owner=owner, lease_until=until)
    )


def _release(flow_run: FlowRun, owner: str) -> bool:
    """Give the lease back unless outside work arrived meanwhile (then keep advancing)."""
    now = timezone.now()
    with transaction.atomic():
        if _ready(flow_run, now) is not None:
            return False
        due = store.next_due(flow_run)
        FlowRun.objects.filter(pk=flow_run.pk, lease_owner=owner).update(
            lease_owner="", lease_until=None, due_at=due
        )
    if due is not None:
        from fabflow.flows.jobs import advance_flow

        advance_flow.using(run_after=due).enqueue(str(flow_run.pk))
    return True


def advance(flow_run_id: str, owner: str | None = None) -> int:
    """Advance a flow run as far as it goes now; returns the number of steps taken."""
    owner = owner or worker_id()
    leased_at = timezone.now()
    if not _lease(flow_run_id, owner, leased_at):
        return 0
    steps = 0
    flow_run = FlowRun.objects.select_related("flow_version", "order__space").get(pk=flow_run_id)
    flow_run._lease_renewed = leased_at  # type: ignore[attr-defined]
    try:
        while steps < MAX_STEPS:
            if _step_once(flow_run, owner):
                steps += 1
                continue
            if _release(flow_run, owner):
                return steps
    except Exception:
        # Give the flow run back at once (not after the lease expires); the sweeper retries.
        _yield(flow_run_id, owner, requeue=False)
        raise
    # A flow that keeps producing work yields its lease to let others in, and comes back.
    _yield(flow_run_id, owner, requeue=True)
    return steps


def _yield(flow_run_id: str, owner: str, *, requeue: bool) -> None:
    released = FlowRun.objects.filter(pk=flow_run_id, lease_owner=owner).update(
        lease_owner="", lease_until=None, due_at=timezone.now()
    )
    if released and requeue:
        from fabflow.flows.jobs import advance_flow

        advance_flow.enqueue(flow_run_id)


UNFINISHED = ["pending", "running", "waiting"]


def _ready(flow_run: FlowRun, now: datetime) -> FlowInbox | tuple[str, TaskRun] | None:
    """The next thing to do now, in priority order: the single definition of "ready"."""
    # An event about a run whose handler call is not recorded yet waits for that record.
    inbox = (
        FlowInbox.objects.filter(flow_run=flow_run, processed_at__isnull=True)
        .exclude(task_run__state__in=["pending", "running"])
        .first()
    )
    if inbox is not None:
        return inbox
    live = TaskRun.objects.filter(flow_run=flow_run, generation=flow_run.generation)
    timed_out = live.filter(state__in=UNFINISHED, timed_out=False, timeout_at__lte=now).first()
    if timed_out is not None:
        return "timeout", timed_out
    runnable = live.filter(
        Q(state__in=["pending", "running"], wake_at__isnull=True)
        | Q(state__in=UNFINISHED, wake_at__lte=now)
    ).first()
    return ("execute", runnable) if runnable is not None else None


def _keep_lease(flow_run: FlowRun, owner: str, now: datetime) -> None:
    """Renew the lease once half of it has passed (not on every step: that is a write)."""
    renewed: datetime | None = getattr(flow_run, "_lease_renewed", None)
    half = timedelta(seconds=settings.FABFLOW_LEASE_SECONDS / 2)
    if renewed is not None and now - renewed < half:
        return
    if not _lease(str(flow_run.pk), owner, now):
        raise RuntimeError("lost the lease of a flow run")
    flow_run._lease_renewed = now  # type: ignore[attr-defined]


def _step_once(flow_run: FlowRun, owner: str) -> bool:
    # Only the lease holder changes the flow run, so its fields in memory are current.
    now = timezone.now()
    _keep_lease(flow_run, owner, now)
    work = _ready(flow_run, now)
    if work is None:
        return False
    run = work.task_run if isinstance(work, FlowInbox) else work[1]
    if run is not None:
        # The runner already holds these rows; spare the lazy loads.
        run.flow_run = flow_run
        run.order = flow_run.order
    if isinstance(work, FlowInbox):
        _handle_inbox(flow_run, work)
    elif work[0] == "timeout":
        _apply(flow_run, ip.TaskTimedOut(str(work[1].id)))
    else:
        _execute(flow_run, work[1])
    return True


def _apply(
    flow_run: FlowRun, event: ip.Event, *, actor: str = "worker", inbox: FlowInbox | None = None
) -> None:
    with transaction.atomic():
        runs = list(TaskRun.objects.filter(flow_run=flow_run))
        try:
            store.apply_step(flow_run, runs, event, actor=actor)
        except ip.InvalidTransition as exc:
            record_event(flow_run.order, "action.rejected", str(exc), actor=actor)
        if inbox is not None:
            FlowInbox.objects.filter(pk=inbox.pk).update(processed_at=timezone.now())


def _handle_inbox(flow_run: FlowRun, inbox: FlowInbox) -> None:
    simple: dict[str, Any] = {
        "start": lambda: ip.Start(),
        "restart": lambda: ip.Restart(),
        "retry": lambda: ip.RetryTask(str(inbox.task_run_id)),
    }
    if inbox.kind in simple:
        _apply(flow_run, simple[inbox.kind](), actor=inbox.actor, inbox=inbox)
        return
    run = inbox.task_run
    event = _outside_event(run, inbox) if run is not None else None
    if event is None:
        FlowInbox.objects.filter(pk=inbox.pk).update(processed_at=timezone.now())
        return
    _apply(flow_run, event, actor=inbox.actor, inbox=inbox)


def _outside_event(run: TaskRun, inbox: FlowInbox) -> ip.Event | None:
    """Ask the run's handler what feedback, a completion or a confirmation means."""
    handler = registry.get(run.handler_key)
    if handler is None or run.state != TaskRun.State.WAITING:
        return None
    payload = _payload(run)
    ctx, _effects = build(handler, run, payload, timezone.now())
    outcome = handler.on_event(ctx, {"kind": inbox.kind, **inbox.data})
    if isinstance(outcome, base.Succeeded):
        TaskRun.objects.filter(pk=run.pk).update(result=dict(outcome.result))
        return ip.TaskSucceeded(str(run.id))
    if isinstance(outcome, base.Failed):
        return ip.TaskFailed(str(run.id), outcome.reason)
    return None


def _payload(run: TaskRun) -> dict[str, Any]:
    definition = store.definition_of(run.flow_run.flow_version)
    task = next(t for t in definition.root[run.stage].taskDefinitions if t.key == run.key)
    return task.payload


def _execute(flow_run: FlowRun, run: TaskRun) -> None:
    now = timezone.now()
    with transaction.atomic():
        if run.state == TaskRun.State.PENDING:
            store.apply_step(
                flow_run,
                list(TaskRun.objects.filter(flow_run=flow_run)),
                ip.TaskStarted(str(run.id)),
            )
            record_event(
                flow_run.order,
                "task.started",
                f"Task {run.key} started",
                data={"taskRunId": str(run.id), "handlerKey": run.handler_key},
            )
        run.refresh_from_db()
        run.deliveries += 1
        run.started_at = run.started_at or now
        run.wake_at = None
        run.save(update_fields=["deliveries", "started_at", "wake_at"])
    outcome = _call_handler(run, now)
    _record_outcome(flow_run, run, outcome)


def _call_handler(run: TaskRun, now: datetime) -> base.Outcome:
    handler = registry.get(run.handler_key)
    if handler is None:
        return base.Failed(f"no handler {run.handler_key!r} is installed")
    try:
        ctx, effects = build(handler, run, _payload(run), now)
        outcome = handler.run(ctx)
    except Exception as exc:
        log.exception("handler %s crashed on task run %s", run.handler_key, run.id)
        return base.Failed(f"handler error: {exc.__class__.__name__}: {exc}"[:500])
    if effects.missing:
        record_event(
            run.order,
            "template.missing",
            "Missing template values: " + ", ".join(effects.missing),
            data={"taskRunId": str(run.id)},
        )
    return outcome


def _record_outcome(flow_run: FlowRun, run: TaskRun, outcome: base.Outcome) -> None:
    run_id = str(run.id)
    if isinstance(outcome, base.Succeeded):
        TaskRun.objects.filter(pk=run.pk).update(result=dict(outcome.result))
        _apply(flow_run, ip.TaskSucceeded(run_id))
    elif isinstance(outcome, base.Failed):
        _apply(flow_run, ip.TaskFailed(run_id, outcome.reason))
    elif isinstance(outcome, base.Waiting):
        with transaction.atomic():
            TaskRun.objects.filter(pk=run.pk).update(wake_at=outcome.until)
            if run.state != TaskRun.State.WAITING:
                _apply(flow_run, ip.TaskWaiting(run_id))
                if outcome.message:
                    record_event(
                        run.order,
                        "task.waiting",
                        f"Task {run.key}: {outcome.message}",
                        data={"taskRunId": run_id},
                    )
    else:
        _retry_later(flow_run, run, outcome)


def _retry_later(flow_run: FlowRun, run: TaskRun, outcome: base.RetryLater) -> None:
    if run.deliveries >= settings.FABFLOW_TASK_MAX_DELIVERIES:
        reason = f"{outcome.reason} (gave up after {run.deliveries} attempts)"
        _apply(flow_run, ip.TaskFailed(str(run.id), reason))
        return
    delay = backoff_delay(
        run.deliveries - 1, base=1.0, cap=300.0, retry_after=outcome.retry_after_s
    )
    wake = timezone.now() + timedelta(seconds=delay)
    with transaction.atomic():
        TaskRun.objects.filter(pk=run.pk).update(wake_at=wake)
        record_event(
            run.order,
            "task.retry_scheduled",
            f"Task {run.key}: {outcome.reason}; retry in {delay:.1f} s",
            data={"taskRunId": str(run.id), "attempt": run.deliveries},
        )


def relay_feedback(run: TaskRun, feedback: dict[str, Any]) -> None:
    """Record connector feedback on the timeline and relay it to the updateUrl."""
    record_event(
        run.order,
        "connector.feedback",
        f"Feedback for {run.key}: {feedback.get('status')}",
        data={"taskRunId": str(run.id), **feedback},
    )
    queue_update(run.order, "order.feedback", feedback=feedback)
