"""Recovery: find flow runs and deliveries whose job was lost (a killed worker) and re-queue.

The normal path never needs this: every change enqueues its own job. The sweeper only looks
for work that has been due for longer than a grace period while nobody holds its lease.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from fabflow.flows.models import FlowInbox, FlowRun, TaskRun
from fabflow.orders.models import UpdateDelivery

GRACE = timedelta(seconds=10)
BATCH = 500


def stalled_flow_runs() -> list[str]:
    now = timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    inbox = FlowInbox.objects.filter(
        flow_run=OuterRef("pk"), processed_at__isnull=True, created_at__lt=now - GRACE
    )
    executing = TaskRun.objects.filter(
        flow_run=OuterRef("pk"),
        state__in=["pending", "running"],
        wake_at__isnull=True,
        generation=OuterRef("generation"),
    )
    unmarked = Q(due_at__isnull=True) & (
        Exists(inbox) | (Q(lease_until__lt=now) & Exists(executing))
    )
    due = Q(due_at__lt=now - GRACE) | unmarked
    ids = [
        str(pk)
        for pk in FlowRun.objects.filter(free).filter(due).values_list("pk", flat=True)[:BATCH]
    ]
    # Not again before the grace period has passed: the re-queued job needs time to run.
    FlowRun.objects.filter(pk__in=ids).update(due_at=now)
    return ids


def stalled_deliveries() -> list[str]:
    cutoff = timezone.now() - timedelta(seconds=30)
    ids = [
        str(pk)
        for pk in UpdateDelivery.objects.filter(
            state=UpdateDelivery.State.PENDING, next_attempt_at__lt=cutoff
        ).values_list("pk", flat=True)[:BATCH]
    ]
    UpdateDelivery.objects.filter(pk__in=ids).update(next_attempt_at=timezone.now())
    return ids


def queue_is_behind() -> bool:
    """True while jobs that fell due more than GRACE ago still wait to be claimed.

    Then the workers are busy, not dead: the "stalled" work most likely has its job waiting
    in that backlog, and re-queuing it would only feed the backlog (each duplicate costs a
    claim). Lost jobs are re-queued once the queue has caught up.
    """
    from django_tasks_db.models import DBTaskResult, get_date_max

    overdue = timezone.now() - GRACE
    due = Q(run_after=get_date_max()) | Q(run_after__lt=overdue)
    return DBTaskResult.objects.filter(due, status="READY", enqueued_at__lt=overdue).exists()


def sweep() -> int:
    """Re-enqueue stalled work; duplicates are harmless (leases and states guard them)."""
    from fabflow.flows.jobs import advance_flow
    from fabflow.orders.updates import deliver_update

    if queue_is_behind():
        return 0
    flow_runs = stalled_flow_runs()
    for pk in flow_runs:
        advance_flow.enqueue(pk)
    deliveries = stalled_deliveries()
    for pk in deliveries:
        deliver_update.enqueue(pk)
    return len(flow_runs) + len(deliveries)
