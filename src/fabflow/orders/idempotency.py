"""Idempotency-Key handling for POST /orders: replay, conflict, or record with the order.

The key's row is written in the order's own transaction, with the response (ADR 0008). A
concurrent duplicate is told apart before anything is written: on PostgreSQL the first request
holds a transaction-scoped advisory lock on the key, so a second one gets 409 at once; on
SQLite, write transactions run one after the other, so the second replays the first's response.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.utils import timezone

from fabflow.accounts.models import Space
from fabflow.core.errors import Conflict, Invalid
from fabflow.orders.models import IdempotencyKey, Order

MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Claim:
    """An Idempotency-Key of a request, with the digest of the request's body."""

    space: Space
    key: str
    digest: str


def request_hash(payload: dict[str, Any]) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable() or not key.isascii():
        raise Invalid(
            f"must be 1 to {MAX_KEY_LENGTH} printable ASCII characters",
            field=("header", "Idempotency-Key"),
        )
    return key


def begin(claim: Claim) -> tuple[int, Any] | None:
    """Inside the order's transaction: the earlier response (status, body), or None to go on.

    Raises 409 while another request with the key is in its transaction (PostgreSQL) and 422
    when the key was used with another body."""
    if connection.vendor == "postgresql" and not _try_lock(claim):
        raise Conflict(
            "A request with this Idempotency-Key is still being processed.", retry_after=1
        )
    record = IdempotencyKey.objects.filter(space=claim.space, key=claim.key).first()
    if record is None:
        return None
    if record.request_hash != claim.digest:
        raise Invalid(
            "this key was used with a different request body", field=("header", "Idempotency-Key")
        )
    if record.state != IdempotencyKey.State.DONE:
        # Left by a version that committed claims first (ADR 0001) and then crashed.
        record.delete()
        return None
    return record.response_status or 200, record.response_body


def record(claim: Claim, *, status: int, body: Any, order: Order) -> None:
    """Store the response with the key; call in the transaction that created the order."""
    IdempotencyKey.objects.create(
        space=claim.space,
        key=claim.key,
        request_hash=claim.digest,
        state=IdempotencyKey.State.DONE,
        locked_at=timezone.now(),
        response_status=status,
        response_body=body,
        order=order,
    )


def lock_number(claim: Claim) -> int:
    """The key's number for PostgreSQL's advisory locks (64 bits of a hash of space and key)."""
    digest = hashlib.sha256(f"{claim.space.pk}:{claim.key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _try_lock(claim: Claim) -> bool:
    """Take PostgreSQL's advisory lock of the key until the transaction ends, if free."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [lock_number(claim)])
        return bool(cursor.fetchone()[0])
