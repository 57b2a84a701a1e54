"""Keyset (cursor) pagination: stable under inserts and fast on deep pages."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.core import signing
from django.db.models import Expression, F, Q, QuerySet
from django.http import HttpRequest

from fabflow.core import pagerows
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
    if kind is Decimal:
        return Decimal(value)
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
    """One page of `qs` ordered by `ordering` (a key name, optionally with "-") and id."""
    name = ordering.lstrip("-")
    if name not in keys:
        raise invalid(("query", "ordering"), f"ordering must be one of {', '.join(keys)}")
    descending = ordering.startswith("-")
    key = keys[name]
    qs = qs.annotate(_sort=key.expression)
    if cursor:
        qs = qs.filter(_after(cursor, ordering, key, descending))
    order = ["-_sort", "-id"] if descending else ["_sort", "id"]
    rows = _rows(qs, order, key, limit + 1)
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    value = getattr(last, _loaded_column(qs, key) or "_sort")
    token = signing.dumps([ordering, _encode(value), str(last.id)], salt=CURSOR_SALT)
    params = request.GET.copy()
    params["cursor"] = token
    return rows, request.build_absolute_uri(f"{request.path}?{params.urlencode()}")


def _rows(qs: QuerySet[Any], order: list[str], key: SortKey, count: int) -> list[Any]:
    """The first `count` rows of `qs` in `order`, found by id and then read by primary key,
    in one statement.

    Finding a page may walk many index entries (a search whose matches come late in the sort
    order); asking only for ids lets PostgreSQL walk a covering index without reading the
    table. The rows are then read by id with the list's joins and deferred fields, without
    its filters (the ids already passed them). The ids are a subquery of the same statement
    (`id IN (SELECT … LIMIT n)`), not a query of their own: one round trip per page. The
    statement around them has one shape per list, columns and ordering: it is compiled
    once (core/pagerows.py).
    """
    ids = qs.order_by(*order).values("pk")[:count]
    column = _loaded_column(qs, key)
    select_related = qs.query.select_related
    names, defer = qs.query.deferred_loading
    shape = (
        qs.model,
        repr(select_related),  # False, True or nested dicts of names
        frozenset(names),
        defer,
        tuple(order),
        column or key,
    )

    def statement() -> QuerySet[Any]:
        rows = qs.model._default_manager.all()
        rows.query.select_related = copy.deepcopy(select_related)
        rows.query.deferred_loading = qs.query.deferred_loading
        if column is None:
            return rows.annotate(_sort=key.expression).order_by(*order)
        # A sort key that is a column the rows read anyway is not read (and parsed) twice.
        return rows.order_by(*[o.replace("_sort", column) for o in order])

    return pagerows.read(qs.db, shape, statement, ids)


def _loaded_column(qs: QuerySet[Any], key: SortKey) -> str | None:
    """The name of the column that `key` sorts by, if it is one of the columns read."""
    if not isinstance(key.expression, F):
        return None
    name = str(key.expression.name)  # type: ignore[attr-defined]  # F has a name
    names, defer = qs.query.deferred_loading
    fields = {f.name for f in qs.model._meta.concrete_fields}
    if name not in fields or (name in names) == defer:
        return None
    return name


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
        return Q(_sort__lte=value) & ~Q(_sort=value, id__gte=last_id)
    return Q(_sort__gte=value) & ~Q(_sort=value, id__lte=last_id)
