"""Order updates: every status change and feedback is POSTed, signed, to the order's updateUrl.

The delivery rows are written by `timeline` (which enqueues this job on commit); this module
makes the attempts.
"""

from __future__ import annotations

import json
import time

from django.conf import settings
from django_tasks import task

from fabflow.accounts.signing import webhook_headers
from fabflow.core import outbound
from fabflow.orders import timeline
from fabflow.orders.models import UpdateDelivery


@task()
def deliver_update(delivery_id: str) -> str:
    """One attempt; failures are logged and retried with backoff up to the attempt limit."""
    delivery = UpdateDelivery.objects.select_related("order__space").filter(pk=delivery_id).first()
    if delivery is None or delivery.state != UpdateDelivery.State.PENDING:
        return "skipped"
    body = json.dumps(delivery.body, separators=(",", ":")).encode()
    started = time.monotonic()
    status, error, retry_after, transient = None, "", None, True
    try:
        policy = outbound.OutboundPolicy.from_strings(
            settings.OUTBOUND_ALLOWLIST, read_timeout=10, max_response_bytes=65536
        )
        signed = webhook_headers(delivery.order.space, str(delivery.id), body)
        headers = {"Content-Type": "application/json", **signed}
        response = outbound.request(policy, "POST", delivery.url, body=body, headers=headers)
        status = response.status
        if not 200 <= status < 300:
            error = f"HTTP {status}"
            transient = outbound.is_transient_status(status)
            retry_after = outbound.retry_after_seconds(response.headers)
    except outbound.OutboundError as exc:
        error, transient = str(exc), exc.transient
    duration = int((time.monotonic() - started) * 1000)
    return timeline.record_attempt(
        delivery,
        status=status,
        error=error,
        duration_ms=duration,
        transient=transient,
        retry_after=retry_after,
    )
