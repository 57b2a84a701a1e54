"""Order updates: every status change and feedback is POSTed, signed, to the order's updateUrl."""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_tasks import task
from standardwebhooks.webhooks import Webhook

from fabflow.core import outbound
from fabflow.orders.models import DeliveryAttempt, Order, UpdateDelivery

log = logging.getLogger(__name__)


def new_update(
    order: Order,
    event: str,
    *,
    previous_status: str | None = None,
    feedback: dict[str, Any] | None = None,
) -> UpdateDelivery | None:
    """An unsaved update delivery for the order's updateUrl; None when it has none."""
    if not order.update_url:
        return None
    body: dict[str, Any] = {
        "event": event,
        "order": {
            "id": str(order.id),
            "name": order.name,
            "thirdPartyOrderId": order.third_party_order_id,
            "status": order.status,
        },
        "occurredAt": timezone.now().isoformat(),
    }
    if previous_status is not None:
        body["previousStatus"] = previous_status
    if feedback is not None:
        body["feedback"] = feedback
    return UpdateDelivery(
        order=order, event=event, url=order.update_url, body=body, next_attempt_at=timezone.now()
    )


def queue_update(
    order: Order,
    event: str,
    *,
    previous_status: str | None = None,
    feedback: dict[str, Any] | None = None,
) -> UpdateDelivery | None:
    """Record an update for delivery after commit; orders without updateUrl get none."""
    delivery = new_update(order, event, previous_status=previous_status, feedback=feedback)
    if delivery is None:
        return None
    delivery.save(force_insert=True)
    transaction.on_commit(lambda: deliver_update.enqueue(str(delivery.id)))
    return delivery


def _signed_headers(delivery: UpdateDelivery, body: bytes) -> dict[str, str]:
    now = timezone.now()
    signature = Webhook(delivery.order.space.signing_secret).sign(
        str(delivery.id), now, body.decode()
    )
    return {
        "Content-Type": "application/json",
        "webhook-id": str(delivery.id),
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }


@task()
def deliver_update(delivery_id: str) -> str:
    """One attempt; failures are logged and retried with backoff up to the attempt limit."""
    delivery = UpdateDelivery.objects.select_related("order__space").filter(pk=delivery_id).first()
    if delivery is None or delivery.state != UpdateDelivery.State.PENDING:
        return "skipped"
    attempt = delivery.attempts + 1
    body = json.dumps(delivery.body, separators=(",", ":")).encode()
    started = time.monotonic()
    status, error, retry_after, transient = None, "", None, True
    try:
        policy = outbound.OutboundPolicy.from_strings(
            settings.OUTBOUND_ALLOWLIST, read_timeout=10, max_response_bytes=65536
        )
        response = outbound.request(
            policy, "POST", delivery.url, body=body, headers=_signed_headers(delivery, body)
        )
        status = response.status
        if not 200 <= status < 300:
            error = f"HTTP {status}"
            transient = outbound.is_transient_status(status)
            retry_after = outbound.retry_after_seconds(response.headers)
    except outbound.OutboundError as exc:
        error, transient = str(exc), exc.transient
    duration = int((time.monotonic() - started) * 1000)
    return _record(delivery, attempt, status, error, duration, transient, retry_after)


def _record(
    delivery: UpdateDelivery,
    attempt: int,
    status: int | None,
    error: str,
    duration_ms: int,
    transient: bool,
    retry_after: float | None,
) -> str:
    now = timezone.now()
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
        elif transient and attempt < settings.FABFLOW_UPDATE_MAX_ATTEMPTS:
            delay = outbound.backoff_delay(
                attempt - 1, base=2.0, cap=900.0, retry_after=retry_after
            )
            delivery.next_attempt_at = now + timedelta(seconds=delay)
            transaction.on_commit(
                lambda: deliver_update.using(run_after=delivery.next_attempt_at).enqueue(
                    str(delivery.id)
                )
            )
        else:
            delivery.state, delivery.next_attempt_at = "failed", None
        delivery.save(
            update_fields=["attempts", "last_error", "state", "delivered_at", "next_attempt_at"]
        )
    return delivery.state
