"""The runner: the only place where the database meets the interpreter.

A worker holds the lease of a flow run (see `claims`) and advances it as far as it goes now:
outside events first, then timeouts that fell due, then task runs ready to execute. The run's
rows stay in memory while the lease is held, so a step reads nothing; each decision is one
transaction (task runs, flow run, order status, timeline, queued updates). Starting the next
task run is written in the same transaction as the decision that made it ready, so a chain of
tasks costs one transaction per task. Handlers run outside any transaction. A worker killed at
any instant leaves a consistent state behind, and the lease expiry lets another worker go on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from fabflow.core.outbound import RetrySchedule
from fabflow.flows.engine import claims, steps, store
from fabflow.flows.engine import interpreter as ip
from fabflow.flows.engine.claims import Held
from fabflow.flows.engine.context import build
from fabflow.flows.engine.store import InboxKind
from fabflow.flows.handlers import base, registry
from fabflow.flows.models import FlowInbox, TaskRun
from fabflow.orders.timeline import EventKind, Journal, last_message

log = logging.getLogger(__name__)
MAX_STEPS = 200
# After an unexpected error the flow run rests this long before a worker tries it again.
ERROR_PAUSE = timedelta(seconds=5)
BLOCKED = ("pending", "running")
UNFINISHED = ("pending", "running", "waiting")


@dataclass(frozen=True)
class Timeout:
    run: TaskRun


@dataclass(frozen=True)
class Execute:
    run: TaskRun


Work = FlowInbox | Timeout | Execute


def advance(flow_run_id: str, owner: str | None = None) -> int:
    """Lease one flow run and advance it as far as it goes now; returns the steps taken."""
    held = claims.hold(flow_run_id, owner or claims.worker_id())
    return 0 if held is None else advance_held(held)


def advance_held(held: Held) -> int:
    """Advance a flow run whose lease is held, then give the lease back."""
    steps = 0
    try:
        while steps < MAX_STEPS:
            now = timezone.now()
            claims.keep_lease(held, now)
            work = next_work(held, now)
            if work is not None:
                _do(held, work, now)
                steps += 1
                if held.released:
                    return steps
            elif _release(held):
                return steps
    except claims.LeaseLost:
        log.warning("lost the lease of flow run %s; another worker goes on", held.flow_run.pk)
        return steps
    except Exception:
        claims.give_back(held, due=timezone.now() + ERROR_PAUSE)
        raise
    # A flow that keeps producing work gives others a turn; it is due again at once.
    claims.give_back(held, due=timezone.now())
    return steps


def next_work(held: Held, now: datetime) -> Work | None:
    """The next thing to do now, in priority order: the single definition of "ready"."""
    for item in held.inbox:
        # An event about a run whose handler call is not recorded yet waits for that record.
        run = held.run(item.task_run_id) if item.task_run_id else None
        if run is None or run.state not in BLOCKED:
            return item
    live = [r for r in held.runs if r.generation == held.flow_run.generation]
    for run in live:
        if run.state in UNFINISHED and not run.timed_out and _due(run.timeout_at, now):
            return Timeout(run)
    for run in live:
        if run.state in UNFINISHED and str(run.id) == held.begun:
            # Its delivery is recorded (a woken timer's wake_at is cleared by then): call it.
            return Execute(run)
    for run in live:
        if (run.state in BLOCKED and run.wake_at is None) or (
            run.state in UNFINISHED and _due(run.wake_at, now)
        ):
            return Execute(run)
    return None


def _due(at: datetime | None, now: datetime) -> bool:
    return at is not None and at <= now


def _do(held: Held, work: Work, now: datetime) -> None:
    if isinstance(work, FlowInbox):
        _handle_inbox(held, work)
    elif isinstance(work, Timeout):
        with transaction.atomic():
            journal = Journal()
            _apply(held, ip.TaskTimedOut(str(work.run.id)), journal)
            _begin_next(held, journal, now)
            _flush(held, journal)
    else:
        _execute(held, work.run, now)


def _apply(
    held: Held,
    event: ip.Event,
    journal: Journal,
    *,
    actor: str = "worker",
    touch: dict[str, dict[str, Any]] | None = None,
) -> None:
    try:
        steps.apply_step(
            held.flow_run,
            held.runs,
            event,
            journal=journal,
            actor=actor,
            touch=touch,
            flow_run_changes=held.changes,
        )
    except ip.InvalidTransition as exc:
        journal.event(held.order, EventKind.ACTION_REJECTED, str(exc), actor=actor)


def _begin_next(held: Held, journal: Journal, now: datetime) -> None:
    """Record the start of the task run that executes next, in the transaction that made it
    ready: a chain of tasks then costs one transaction per task, not two. A handler that runs
    in the transaction (`Handler.in_transaction`: `wait`, `manual-task`) is called right here,
    and its outcome, and the start of what it makes ready, join this transaction too."""
    for _ in range(MAX_STEPS):
        work = next_work(held, now)
        if not isinstance(work, Execute):
            return
        _begin(held, work.run, journal, now)
        if not _in_transaction(work.run):
            return
        _run_here(held, work.run, journal, now)
        now = timezone.now()


def _in_transaction(run: TaskRun) -> bool:
    handler = registry.get(run.handler_key)
    return handler is not None and handler.in_transaction


def _run_here(held: Held, run: TaskRun, journal: Journal, now: datetime) -> None:
    """Call an in-transaction handler of a begun run and record its outcome in `journal`'s
    transaction."""
    held.begun = None
    outcome = _call_handler(held, run, now, journal)
    _record_outcome(held, run, outcome, journal)


def _begin(held: Held, run: TaskRun, journal: Journal, now: datetime) -> None:
    """Count a delivery of the run (and start it if pending) before its handler is called."""
    touch = {
        "deliveries": run.deliveries + 1,
        "started_at": run.started_at or now,
        "wake_at": None,
    }
    if run.state == TaskRun.State.PENDING:
        _apply(held, ip.TaskStarted(str(run.id)), journal, touch={str(run.id): touch})
        journal.event(
            held.order,
            EventKind.TASK_STARTED,
            f"Task {run.key} started",
            data={"taskRunId": str(run.id), "handlerKey": run.handler_key},
        )
    else:
        if run.reason:  # the last failure of a retried run: this delivery replaces it
            touch["reason"] = ""
        store.write_run(run, touch)
    held.begun = str(run.id)


def _flush(held: Held, journal: Journal) -> None:
    """Write what the transaction collected: new task runs first, then the timeline. When
    nothing is left to do now (a handler at work is `begun`: its run is still work), the lease
    is given back in the same transaction, in the statement that writes the flow run's new
    position: a step that ends in waiting or at the flow's end costs no extra commit."""
    store.insert_new(held.runs)
    journal.flush()
    if next_work(held, timezone.now()) is None:
        _release(held)
    elif held.changes:
        store.write_flow_run(held.flow_run, held.changes)
    held.changes.clear()


def _release(held: Held) -> bool:
    """Give the lease back unless an outside event arrived (then its items are loaded)."""
    due = steps.next_due(held.runs, held.flow_run.generation)
    held.released = claims.release(held, due, also=held.changes)
    return held.released


def _handle_inbox(held: Held, item: FlowInbox) -> None:
    simple: dict[str, Any] = {
        InboxKind.START: lambda: ip.Start(),
        InboxKind.RESTART: lambda: ip.Restart(),
        InboxKind.RETRY: lambda: ip.RetryTask(str(item.task_run_id)),
    }
    run = held.run(item.task_run_id) if item.task_run_id else None
    now = timezone.now()
    with transaction.atomic():
        journal = Journal()
        if item.kind in simple:
            _apply(held, simple[item.kind](), journal, actor=item.actor)
        elif run is not None:
            event, touch = _outside_event(held, run, item)
            if event is not None:
                _apply(held, event, journal, actor=item.actor, touch=touch)
        store.mark_processed(item, now)
        held.inbox.remove(item)
        _begin_next(held, journal, now)
        _flush(held, journal)


def _outside_event(
    held: Held, run: TaskRun, item: FlowInbox
) -> tuple[ip.Event | None, dict[str, dict[str, Any]] | None]:
    """Ask the run's handler what feedback, a completion or a confirmation means."""
    handler = registry.get(run.handler_key)
    if handler is None or run.state != TaskRun.State.WAITING:
        return None, None
    ctx, _effects = build(handler, run, _payload(held, run), timezone.now(), held.runs)
    outcome = handler.on_event(ctx, {"kind": item.kind, **item.data})
    if isinstance(outcome, base.Succeeded):
        return ip.TaskSucceeded(str(run.id)), {str(run.id): {"result": dict(outcome.result)}}
    if isinstance(outcome, base.Failed):
        return ip.TaskFailed(str(run.id), outcome.reason), None
    return None, None


def _payload(held: Held, run: TaskRun) -> dict[str, Any]:
    definition = steps.definition_of(held.flow_run.flow_version)
    return definition.task(run.stage, run.key).payload


def _execute(held: Held, run: TaskRun, now: datetime) -> None:
    if _in_transaction(run):
        # Its start (unless recorded already), its outcome and what comes next: one commit.
        with transaction.atomic():
            journal = Journal()
            if held.begun != str(run.id):
                _begin(held, run, journal, now)
            _run_here(held, run, journal, now)
            _begin_next(held, journal, timezone.now())
            _flush(held, journal)
        return
    if held.begun != str(run.id):
        with transaction.atomic():
            journal = Journal()
            _begin(held, run, journal, now)
            _flush(held, journal)
    outcome = _call_handler(held, run, now)
    with transaction.atomic():
        held.begun = None
        journal = Journal()
        _record_outcome(held, run, outcome, journal)
        _begin_next(held, journal, timezone.now())
        _flush(held, journal)


def _call_handler(
    held: Held, run: TaskRun, now: datetime, journal: Journal | None = None
) -> base.Outcome:
    """Call the run's handler outside any transaction, or, with `journal`, inside the one
    `journal` belongs to (in-transaction handlers)."""
    handler = registry.get(run.handler_key)
    if handler is None:
        return base.Failed(f"no handler {run.handler_key!r} is installed")
    try:
        ctx, effects = build(handler, run, _payload(held, run), now, held.runs)
        if journal is None:  # outside a transaction: the call may take minutes (a render)
            with claims.lease_kept(held):
                outcome = handler.run(ctx)
        else:
            outcome = handler.run(ctx)
    except Exception as exc:
        log.exception("handler %s crashed on task run %s", run.handler_key, run.id)
        return base.Failed(f"handler error: {exc.__class__.__name__}: {exc}"[:500])
    if effects.missing:
        message = "Missing template values: " + ", ".join(effects.missing)
        data = {"taskRunId": str(run.id)}
        if journal is not None:
            journal.event(held.order, EventKind.TEMPLATE_MISSING, message, data=data)
            return outcome
        # Recorded at once: the message must survive even if the outcome's write fails.
        with transaction.atomic():
            own = Journal()
            own.event(held.order, EventKind.TEMPLATE_MISSING, message, data=data)
            _flush(held, own)
    return outcome


def _record_outcome(held: Held, run: TaskRun, outcome: base.Outcome, journal: Journal) -> None:
    run_id = str(run.id)
    if isinstance(outcome, base.Succeeded):
        _apply(held, ip.TaskSucceeded(run_id), journal, touch={run_id: {"result": outcome.result}})
    elif isinstance(outcome, base.Failed):
        _apply(held, ip.TaskFailed(run_id, outcome.reason), journal)
    elif isinstance(outcome, base.Waiting):
        changes: dict[str, Any] = {"wake_at": outcome.until}
        if outcome.result is not None:
            changes["result"] = dict(outcome.result)
        message = f"Task {run.key}: {outcome.message}" if outcome.message else ""
        if run.state == TaskRun.State.WAITING:
            store.write_run(run, changes)
            # A poll that found something new (a partner's status): on the timeline once.
            if message and message != last_message(held.order, EventKind.TASK_WAITING, run_id):
                journal.event(
                    held.order, EventKind.TASK_WAITING, message, data={"taskRunId": run_id}
                )
            return
        _apply(held, ip.TaskWaiting(run_id), journal, touch={run_id: changes})
        if message:
            journal.event(held.order, EventKind.TASK_WAITING, message, data={"taskRunId": run_id})
    else:
        _retry_later(held, run, outcome, journal)


def _retry_later(held: Held, run: TaskRun, outcome: base.RetryLater, journal: Journal) -> None:
    """A transient failure: the run waits on its own timer (`wake_at`, which the flow run's
    `due_at` follows) for the next delivery, keeping the failure as its `reason` meanwhile;
    once the retry budget is spent the task fails with that reason."""
    now = timezone.now()
    schedule = RetrySchedule.from_settings(max_attempts=settings.FABFLOW_TASK_MAX_DELIVERIES)
    then = schedule.next_attempt(
        run.deliveries,
        first_at=outcome.since or run.started_at or now,
        now=now,
        retry_after=outcome.retry_after_s,
    )
    if then is None:
        reason = f"{outcome.reason} (gave up after {run.deliveries} attempts)"
        _apply(held, ip.TaskFailed(str(run.id), reason), journal)
        return
    store.write_run(run, {"wake_at": then, "reason": outcome.reason[:2000]})
    journal.event(
        held.order,
        EventKind.TASK_RETRY_SCHEDULED,
        f"Task {run.key}: attempt {run.deliveries} failed: {outcome.reason}; "
        f"next attempt at {then.isoformat(timespec='seconds')}",
        data={
            "taskRunId": str(run.id),
            "attempt": run.deliveries,
            "reason": outcome.reason[:2000],
            "nextAttemptAt": then.isoformat(),
        },
    )
