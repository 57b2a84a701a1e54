"""What one engine transaction appends: timeline entries and updateUrl deliveries, in bulk."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from fabflow.core import rows
from fabflow.orders.models import Order, OrderEvent, UpdateDelivery
from fabflow.orders.updates import new_update


class Journal:
    """Collects a transaction's order events and update deliveries; `flush` writes each kind
    with one INSERT (`core.rows`: no query building on the engine's hot path), in the order
    they were added, and queues the deliveries on commit."""

    def __init__(self) -> None:
        self.events: list[OrderEvent] = []
        self.updates: list[UpdateDelivery] = []

    def event(
        self,
        order: Order,
        kind: str,
        message: str = "",
        *,
        data: dict[str, Any] | None = None,
        actor: str = "",
    ) -> None:
        self.events.append(
            OrderEvent(order=order, kind=kind, message=message, data=data or {}, actor=actor)
        )

    def update(
        self,
        order: Order,
        event: str,
        *,
        previous_status: str | None = None,
        feedback: dict[str, Any] | None = None,
    ) -> None:
        delivery = new_update(order, event, previous_status=previous_status, feedback=feedback)
        if delivery is not None:
            self.updates.append(delivery)

    def flush(self) -> None:
        """Write what was collected; call inside the transaction of the change it records."""
        if self.events:
            rows.insert(self.events)
            self.events = []
        if self.updates:
            rows.insert(self.updates)
            ids = [str(d.id) for d in self.updates]
            self.updates = []

            def enqueue() -> None:
                from fabflow.orders.updates import deliver_update

                for pk in ids:
                    deliver_update.enqueue(pk)

            transaction.on_commit(enqueue)
