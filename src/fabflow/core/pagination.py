"""Keyset (cursor) pagination: stable under inserts and fast on deep pages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.core import signing
from django.db.models import Expression, F, Q, QuerySet, Subquery
from django.http import HttpRequest

from fabflow.core.problems import invalid

CURSOR_SALT = "fabflow.cursor"
MAX_LIMIT = 200


@dataclass(frozen=True)
class SortKey:
    """A public ordering name mapped to a model expression that is never NULL."""

    expression: Expression | F
    kind: type


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (Decimal, UUID)):
        return str(value)
    return value


def _decode(value: Any, kind: type) -> Any:
    if kind is datetime:
        return datetime.fromisoformat(value)
    return kind(value) if value is not None else None


def paginate(
    request: HttpRequest,
    qs: QuerySet[Any],
    *,
    keys: Mapping[str, SortKey],
    ordering: str,
    limit: int,
    cursor: str | None,
) -> tuple[list[Any], str | None]:
    """One page of `qs` ordered by `ordering` (a key name, optionally with "-") and id, and
    the next page's URL. The page's ids come from a subquery that walks the sort index (a
    covering one where it can: deep pages cost what the first costs), its rows are `qs` itself
    restricted to them (`id IN (SELECT … LIMIT n)`), with all that `qs` asks for."""
    name = ordering.lstrip("-")
    if name not in keys:
        raise invalid(("query", "ordering"), f"ordering must be one of {', '.join(keys)}")
    descending = ordering.startswith("-")
    key = keys[name]
    order = ["-_sort", "-pk"] if descending else ["_sort", "pk"]
    ordered = qs.annotate(_sort=key.expression).order_by(*order)
    after = ordered.filter(_after(cursor, ordering, key, descending)) if cursor else ordered
    ids = after.values("pk")[: limit + 1]
    rows = list(ordered.filter(pk__in=Subquery(ids)))
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    token = signing.dumps([ordering, _encode(last._sort), str(last.pk)], salt=CURSOR_SALT)
    params = request.GET.copy()
    params["cursor"] = token
    return rows, request.build_absolute_uri(f"{request.path}?{params.urlencode()}")


def _after(cursor: str, ordering: str, key: SortKey, descending: bool) -> Q:
    try:
        saved_ordering, value, last_id = signing.loads(cursor, salt=CURSOR_SALT)
        value = _decode(value, key.kind)
        last_id = UUID(last_id)
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise invalid(("query", "cursor"), "invalid cursor") from exc
    if saved_ordering != ordering:
        raise invalid(("query", "cursor"), "the cursor belongs to another ordering")
    # Written as a range plus an exclusion (not "a < x OR (a = x AND id < y)") so that the
    # database seeks the sort index to the cursor instead of scanning from the start.
    if descending:
        return Q(_sort__lte=value) & ~Q(_sort=value, pk__gte=last_id)
    return Q(_sort__gte=value) & ~Q(_sort=value, pk__lte=last_id)
