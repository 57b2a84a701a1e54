"""An order's timeline and its updateUrl deliveries: the one writer of OrderEvent, UpdateDelivery
and DeliveryAttempt rows.

Every state change appends timeline entries in its own transaction; an order with an updateUrl
also gets a delivery row, and the job that POSTs it (`updates.deliver_update`) is enqueued on
commit, never from inside the transaction. A `Journal` collects what one transaction appends and
writes each table with one INSERT (intake's multi-row insert): the engine's steps append two to
four entries each. The entries' ids are not read back (nothing needs them).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from fabflow.core import outbound
from fabflow.orders.inserts import insert_rows
from fabflow.orders.kinds import EventKind
from fabflow.orders.models import DeliveryAttempt, Order, OrderEvent, UpdateDelivery

__all__ = [
    "EventKind",
    "Journal",
    "flow_assigned",
    "queue_update",
    "record",
    "record_attempt",
    "stalled_deliveries",
]


class Journal:
    """What one transaction appends to timelines and update deliveries; `flush` writes it."""

    def __init__(self) -> None:
        self.events: list[OrderEvent] = []
        self.updates: list[UpdateDelivery] = []

    def event(
        self,
        order: Order,
        kind: EventKind,
        message: str = "",
        *,
        data: dict[str, Any] | None = None,
        actor: str = "",
    ) -> OrderEvent:
        entry = OrderEvent(order=order, kind=kind, message=message, data=data or {}, actor=actor)
        self.events.append(entry)
        return entry

    def update(
        self,
        order: Order,
        event: EventKind,
        *,
        previous_status: str | None = None,
        feedback: dict[str, Any] | None = None,
    ) -> UpdateDelivery | None:
        """A delivery of `event` to the order's updateUrl; none for an order without one."""
        if not order.update_url:
            return None
        now = timezone.now()
        body: dict[str, Any] = {
            "event": event,
            "order": {
                "id": str(order.id),
                "name": order.name,
                "thirdPartyOrderId": order.third_party_order_id,
                "status": order.status,
            },
            "occurredAt": now.isoformat(),
        }
        if previous_status is not None:
            body["previousStatus"] = previous_status
        if feedback is not None:
            body["feedback"] = feedback
        delivery = UpdateDelivery(
            order=order, event=event, url=order.update_url, body=body, next_attempt_at=now
        )
        self.updates.append(delivery)
        return delivery

    def flush(self) -> None:
        """Write what was collected, in the order it was added; call inside the transaction
        of the change it records. The deliveries' jobs are enqueued when it commits."""
        if self.events:
            insert_rows(self.events)
            self.events = []
        if self.updates:
            insert_rows(self.updates)
            ids = [str(d.id) for d in self.updates]
            self.updates = []
            transaction.on_commit(lambda: _enqueue(ids))


def _enqueue(ids: list[str], run_after: datetime | None = None) -> None:
    from fabflow.orders.updates import deliver_update

    task = deliver_update if run_after is None else deliver_update.using(run_after=run_after)
    for pk in ids:
        task.enqueue(pk)


def last_message(order: Order, kind: EventKind, task_run_id: str) -> str | None:
    """The message of the latest `kind` event of a task run on the order's timeline."""
    rows = OrderEvent.objects.filter(order=order, kind=kind, data__taskRunId=task_run_id)
    return rows.order_by("-id").values_list("message", flat=True).first()


def record(
    order: Order,
    kind: EventKind,
    message: str = "",
    *,
    data: dict[str, Any] | None = None,
    actor: str = "",
) -> OrderEvent:
    """Append one entry to an order's timeline, inside the transaction of its change."""
    journal = Journal()
    entry = journal.event(order, kind, message, data=data, actor=actor)
    journal.flush()
    return entry


def flow_assigned(journal: Journal, order: Order, *, flow: str, version: int, actor: str) -> None:
    """The entry of a flow (by name and version number) assigned to an order."""
    data = {"flow": flow, "version": version}
    journal.event(order, EventKind.FLOW_ASSIGNED, f"Flow {flow} v{version}", actor=actor, data=data)


def queue_update(
    order: Order,
    event: EventKind,
    *,
    previous_status: str | None = None,
    feedback: dict[str, Any] | None = None,
) -> UpdateDelivery | None:
    """Record one delivery for the order's updateUrl (none without one), sent after commit."""
    journal = Journal()
    delivery = journal.update(order, event, previous_status=previous_status, feedback=feedback)
    journal.flush()
    return delivery


def record_attempt(
    delivery: UpdateDelivery,
    *,
    status: int | None,
    error: str,
    duration_ms: int,
    transient: bool,
    retry_after: float | None,
) -> str:
    """Log one attempt of a delivery and decide what follows: delivered, another attempt
    later (a job enqueued on commit), or failed for good. Returns the delivery's state."""
    now = timezone.now()
    attempt = delivery.attempts + 1
    with transaction.atomic():
        DeliveryAttempt.objects.create(
            delivery=delivery,
            attempt=attempt,
            status_code=status,
            error=error[:2000],
            duration_ms=duration_ms,
        )
        delivery.attempts, delivery.last_error = attempt, error[:2000]
        if not error:
            delivery.state, delivery.delivered_at, delivery.next_attempt_at = "delivered", now, None
        elif transient and (
            later := outbound.RetrySchedule.from_settings(
                max_attempts=settings.FABFLOW_UPDATE_MAX_ATTEMPTS
            ).next_attempt(attempt, first_at=delivery.created_at, now=now, retry_after=retry_after)
        ):
            delivery.next_attempt_at = later
            transaction.on_commit(_later([str(delivery.id)], later))
        else:
            delivery.state, delivery.next_attempt_at = "failed", None
        delivery.save(
            update_fields=["attempts", "last_error", "state", "delivered_at", "next_attempt_at"]
        )
    return str(delivery.state)


def _later(ids: list[str], run_after: datetime) -> Callable[[], None]:
    return lambda: _enqueue(ids, run_after)


def stalled_deliveries(*, grace: timedelta, limit: int) -> list[str]:
    """Pending deliveries whose attempt is overdue by more than `grace` (their job was lost),
    each marked due now so that they are not taken again before another `grace` passes."""
    now = timezone.now()
    overdue = UpdateDelivery.objects.filter(
        state=UpdateDelivery.State.PENDING, next_attempt_at__lt=now - grace
    )
    ids = [str(pk) for pk in overdue.values_list("pk", flat=True)[:limit]]
    UpdateDelivery.objects.filter(pk__in=ids).update(next_attempt_at=now)
    return ids
