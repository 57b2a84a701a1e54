"""The engine's tables: every write to flow runs, task runs and their inbox, and the reads that
load a leased flow run's rows. Nothing else writes these tables (actions post to the inbox here).

A flow run's lease (`lease_owner`, `lease_until`) makes one worker its only advancer; outside
events go to its inbox and bump `wake_seq` with `due_at = now`, so the holder gives the lease
back only while `wake_seq` is unchanged (see docs/adr/0005-the-engine-claims-flow-runs.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from fabflow.flows.models import FlowInbox, FlowRun, FlowVersion, TaskRun
from fabflow.orders.models import Order

CHANNEL = "fabflow_flows"


class InboxKind(StrEnum):
    """What an outside event in a flow run's inbox asks for."""

    START = "start"
    RESTART = "restart"
    RETRY = "retry"
    COMPLETE = "complete"  # a manual task completed by hand
    CONFIRM = "confirm"  # a confirmation link followed
    FEEDBACK_END = "feedback-end"  # a connector's success or failure


# Events that end a waiting task: a second one for the same task is refused.
ENDING = (InboxKind.COMPLETE, InboxKind.CONFIRM, InboxKind.FEEDBACK_END)


def notify() -> None:
    """On PostgreSQL, NOTIFY the workers (delivered at commit); elsewhere they poll."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, '')", [CHANNEL])


# Producers: new flow runs and outside events ---------------------------------------------------


def start_flow(*, order: Order, version: FlowVersion, actor: str = "") -> FlowRun:
    """Create the order's flow run, due at once for a worker to start (in the caller's atomic)."""
    flow_run = FlowRun(order=order, flow_version=version, due_at=timezone.now())
    flow_run.save(force_insert=True)
    FlowInbox.objects.create(flow_run=flow_run, kind=InboxKind.START, actor=actor)
    notify()
    return flow_run


def post(
    flow_run_id: Any,
    kind: InboxKind,
    *,
    task_run: TaskRun | None = None,
    data: dict[str, Any] | None = None,
    actor: str = "",
) -> FlowInbox:
    """Queue an outside event for the flow run and wake it (in the caller's transaction)."""
    item = FlowInbox.objects.create(
        flow_run_id=flow_run_id, task_run=task_run, kind=kind, data=data or {}, actor=actor
    )
    wake(flow_run_id)
    return item


def wake(flow_run_id: Any) -> None:
    """Make a flow run due now and tell idle workers."""
    FlowRun.objects.filter(pk=flow_run_id).update(due_at=timezone.now(), wake_seq=F("wake_seq") + 1)
    notify()


def has_ending_event(task_run: TaskRun) -> bool:
    """Whether an event that ends the task waits in its flow run's inbox."""
    pending = FlowInbox.objects.filter(task_run=task_run, processed_at__isnull=True)
    return pending.filter(kind__in=ENDING).exists()


# Leases ---------------------------------------------------------------------------------------


def free(now: datetime) -> Q:
    return Q(lease_until__isnull=True) | Q(lease_until__lt=now)


def due_runs(now: datetime) -> QuerySet[FlowRun]:
    """Flow runs with work due by `now` that no worker holds (what a claim takes)."""
    return FlowRun.objects.filter(free(now), due_at__lte=now)


def lease_due(owner: str, limit: int, now: datetime, until: datetime) -> list[FlowRun]:
    """Lease up to `limit` due flow runs, oldest due first."""
    due = due_runs(now).order_by("due_at")
    if connection.features.has_select_for_update_skip_locked:
        # Rows another worker is leasing right now are skipped, not waited for.
        with transaction.atomic():
            runs = list(due.select_for_update(skip_locked=True)[:limit])
            if runs:
                FlowRun.objects.filter(pk__in=[r.pk for r in runs]).update(
                    lease_owner=owner, lease_until=until
                )
        for run in runs:
            run.lease_owner, run.lease_until = owner, until
        return runs
    # SQLite (one writer, no row locks): a plain read first, so that an idle poll takes no
    # write lock, then an update that leases only what is still free.
    ids = list(due.values_list("pk", flat=True)[:limit])
    if not ids:
        return []
    with transaction.atomic():
        FlowRun.objects.filter(free(now), pk__in=ids).update(lease_owner=owner, lease_until=until)
    return list(FlowRun.objects.filter(pk__in=ids, lease_owner=owner))


def lease_one(flow_run_id: Any, owner: str, now: datetime, until: datetime) -> FlowRun | None:
    """Lease one flow run, due or not, unless another worker holds it."""
    mine = free(now) | Q(lease_owner=owner)
    if not FlowRun.objects.filter(mine, pk=flow_run_id).update(
        lease_owner=owner, lease_until=until
    ):
        return None
    return FlowRun.objects.get(pk=flow_run_id)


def renew_lease(flow_run: FlowRun, owner: str, until: datetime) -> bool:
    return bool(FlowRun.objects.filter(pk=flow_run.pk, lease_owner=owner).update(lease_until=until))


def release_lease(
    flow_run: FlowRun, owner: str, seq: int, due: datetime | None, also: Mapping[str, Any]
) -> bool:
    """Give the lease back, due again at `due`, with the other columns `also`, unless an
    outside event bumped `wake_seq` past `seq` (then nothing is written)."""
    held = FlowRun.objects.filter(pk=flow_run.pk, lease_owner=owner, wake_seq=seq)
    return bool(held.update(lease_owner="", lease_until=None, due_at=due, **also))


def give_back(flow_run: FlowRun, owner: str, due: datetime) -> None:
    """Give the lease back with the run due at `due`, whatever arrived meanwhile."""
    FlowRun.objects.filter(pk=flow_run.pk, lease_owner=owner).update(
        lease_owner="", lease_until=None, due_at=due
    )


def lease_state(flow_run: FlowRun) -> tuple[str, int] | None:
    """The flow run's lease owner and `wake_seq` as they are now (None: no such run)."""
    return FlowRun.objects.filter(pk=flow_run.pk).values_list("lease_owner", "wake_seq").first()


# A leased flow run's rows ----------------------------------------------------------------------


def orders_of(flow_runs: Sequence[FlowRun]) -> dict[Any, Order]:
    ids = [fr.order_id for fr in flow_runs]
    return {o.pk: o for o in Order.objects.filter(pk__in=ids).select_related("space")}


def task_runs_of(flow_run_ids: Sequence[Any]) -> list[TaskRun]:
    if not flow_run_ids:
        return []
    return list(TaskRun.objects.filter(flow_run__in=flow_run_ids).order_by("created_at", "id"))


def inbox_of(flow_run_ids: Sequence[Any]) -> list[FlowInbox]:
    """The unprocessed outside events of the flow runs, oldest first."""
    unprocessed = FlowInbox.objects.filter(flow_run__in=flow_run_ids, processed_at__isnull=True)
    return list(unprocessed.order_by("id"))


def write_flow_run(flow_run: FlowRun, changes: Mapping[str, Any], *, owner: str = "") -> bool:
    """Write columns of a flow run (only while `owner` holds its lease, when given)."""
    rows = FlowRun.objects.filter(pk=flow_run.pk)
    if owner:
        rows = rows.filter(lease_owner=owner)
    return bool(rows.update(**changes))


def write_run(row: TaskRun, changed: Mapping[str, Any]) -> None:
    """Change a task run in memory, and in the database unless it awaits its INSERT."""
    for name, value in changed.items():
        setattr(row, name, value)
    if not row._state.adding:
        TaskRun.objects.filter(pk=row.pk).update(**changed)


def insert_new(runs: Sequence[TaskRun]) -> None:
    """INSERT the task runs a step created (in one statement)."""
    new = [r for r in runs if r._state.adding]
    if new:
        TaskRun.objects.bulk_create(new)


def mark_processed(item: FlowInbox, now: datetime) -> None:
    item.processed_at = now
    FlowInbox.objects.filter(pk=item.pk).update(processed_at=now)
