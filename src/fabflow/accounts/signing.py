"""Standard Webhooks headers for a space's outgoing calls (updateUrl deliveries, connectors)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from fabflow.accounts.models import Space


def grace_ends(space: Space, at: datetime | None = None) -> datetime | None:
    """When the previous secret stops signing, if it still signs at `at` (now)."""
    rotated = space.signing_secret_rotated_at
    if not space.previous_signing_secret or rotated is None:
        return None
    ends = rotated + timedelta(seconds=settings.FABFLOW_SIGNING_SECRET_GRACE_SECONDS)
    return ends if (at or timezone.now()) < ends else None


def webhook_headers(space: Space, message_id: str, body: bytes) -> dict[str, str]:
    """`webhook-id`, `-timestamp` and `-signature` (one `v1,…` per secret, space separated)."""
    now = timezone.now()  # in UTC, as the library reads it
    # During the grace period after a rotation the previous secret signs too: receivers still
    # holding it keep verifying until they switch.
    secrets = [space.signing_secret]
    secrets += [space.previous_signing_secret] if grace_ends(space, now) else []
    signatures = [Webhook(s).sign(message_id, now, body.decode()) for s in secrets]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
