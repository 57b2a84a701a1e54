"""Recovery of updateUrl deliveries whose job was lost (a killed worker): re-queue them.

Flow runs need no sweeper: a run with work is due (`due_at`) and claimed once nobody holds it.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from fabflow.orders import timeline

GRACE = timedelta(seconds=30)
BATCH = 500


def queue_is_behind() -> bool:
    """True while jobs that fell due more than GRACE ago still wait to be claimed: then the
    workers are busy, not dead, and a "stalled" delivery's job most likely waits in that
    backlog, which re-queuing it would only feed."""
    from django_tasks_db.models import DBTaskResult, get_date_max

    overdue = timezone.now() - GRACE
    due = Q(run_after=get_date_max()) | Q(run_after__lt=overdue)
    return DBTaskResult.objects.filter(due, status="READY", enqueued_at__lt=overdue).exists()


def sweep() -> int:
    """Re-enqueue deliveries pending long past their attempt time; duplicates are harmless (a
    delivered one is skipped)."""
    from fabflow.orders.updates import deliver_update

    if queue_is_behind():
        return 0
    deliveries = timeline.stalled_deliveries(grace=GRACE, limit=BATCH)
    for pk in deliveries:
        deliver_update.enqueue(pk)
    return len(deliveries)
