"""Idempotency-Key handling for POST /orders: replay, conflict or claim."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from fabflow.accounts.models import Space
from fabflow.core.problems import ApiError, invalid
from fabflow.orders.models import IdempotencyKey, Order

MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Replay:
    status: int
    body: Any


def request_hash(payload: dict[str, Any]) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable() or not key.isascii():
        raise invalid(
            ("header", "Idempotency-Key"),
            f"must be 1 to {MAX_KEY_LENGTH} printable ASCII characters",
        )
    return key


def claim(*, space: Space, key: str, digest: str) -> IdempotencyKey | Replay:
    """Take the key for this request, or say what an earlier request with it decided.

    The claim commits on its own, so a concurrent duplicate sees it and gets 409 instead of
    waiting; a claim left behind by a crashed request expires after the lock period.
    """
    now = timezone.now()
    try:
        with transaction.atomic():
            return IdempotencyKey.objects.create(
                space=space, key=key, request_hash=digest, locked_at=now
            )
    except IntegrityError:
        pass
    record = IdempotencyKey.objects.get(space=space, key=key)
    if record.request_hash != digest:
        raise invalid(
            ("header", "Idempotency-Key"), "this key was used with a different request body"
        )
    if record.state == IdempotencyKey.State.DONE:
        return Replay(record.response_status or 200, record.response_body)
    stale = now - timedelta(seconds=settings.FABFLOW_IDEMPOTENCY_LOCK_SECONDS)
    taken = IdempotencyKey.objects.filter(
        pk=record.pk, state=IdempotencyKey.State.IN_PROGRESS, locked_at__lt=stale
    ).update(locked_at=now)
    if taken:
        record.locked_at = now
        return record
    raise ApiError(
        409,
        "A request with this Idempotency-Key is still being processed.",
        headers={"Retry-After": "1"},
    )


def complete(record: IdempotencyKey, *, status: int, body: Any, order: Order) -> None:
    """Store the response; call in the transaction that created the order."""
    updated = IdempotencyKey.objects.filter(
        pk=record.pk, locked_at=record.locked_at, state=IdempotencyKey.State.IN_PROGRESS
    ).update(
        state=IdempotencyKey.State.DONE, response_status=status, response_body=body, order=order
    )
    if not updated:
        # Our claim expired and another request took the key over: let it win.
        raise ApiError(409, "This Idempotency-Key was taken over by another request.")


def release(record: IdempotencyKey) -> None:
    """Forget a claim whose request failed, so that a corrected retry can use the key."""
    IdempotencyKey.objects.filter(
        pk=record.pk, state=IdempotencyKey.State.IN_PROGRESS, locked_at=record.locked_at
    ).delete()
