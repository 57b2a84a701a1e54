"""The one filter definition of each list: used by the API, the web tables and the exports."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db.models import DateTimeField, F, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from ninja import Schema
from pydantic import ConfigDict, Field, field_validator

from fabflow.core.pagination import SortKey
from fabflow.core.types import UtcDatetime
from fabflow.orders.models import FAR_FUTURE, OrderStatus

DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _clean_text(value: str | None) -> str | None:
    if value is not None and ("\x00" in value):
        raise ValueError("NUL characters are not allowed")
    return value.strip() if value else None


def _date_starts_the_day(value: Any) -> Any:
    """A plain date (what the web table's date inputs send) means the start of that day in the
    site's time zone; a date and time still needs its offset."""
    if isinstance(value, str) and DATE.fullmatch(value):
        day = date.fromisoformat(value)  # ValueError (422) for 2026-02-30
        return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())
    return value


class ListFilter(Schema):
    model_config = ConfigDict(extra="forbid")

    createdAfter: UtcDatetime | None = Field(
        default=None, description="From this instant on; a date (YYYY-MM-DD) is its start"
    )
    createdBefore: UtcDatetime | None = Field(
        default=None, description="Before this instant; a date (YYYY-MM-DD) is its start"
    )
    q: str | None = Field(
        default=None, max_length=200, description="Text search (case-insensitive substring)"
    )

    _q = field_validator("q")(_clean_text)
    _dates = field_validator("createdAfter", "createdBefore", mode="before")(_date_starts_the_day)

    def apply(self, qs: QuerySet[Any]) -> QuerySet[Any]:
        """`qs` filtered: created range, the list's own fields, then the text search (each
        list's model declares its `search`)."""
        given = {k: v for k, v in self.exact().items() if v}
        if self.createdAfter:
            given["created_at__gte"] = self.createdAfter
        if self.createdBefore:
            given["created_at__lt"] = self.createdBefore
        qs = qs.filter(**given)
        return qs.model.search.filter(qs, self.q) if self.q else qs

    def exact(self) -> dict[str, Any]:
        """The list's own filters by lookup (those not given are left out)."""
        return {}


class OrderFilter(ListFilter):
    status: list[OrderStatus] | None = None
    tag: str | None = Field(default=None, max_length=50)

    _tag = field_validator("tag")(_clean_text)

    def exact(self) -> dict[str, Any]:
        tag = f"|{self.tag.lower()}|" if self.tag else None
        return {"status__in": self.status, "tag_index__contains": tag}


class ProductFilter(ListFilter):
    orderId: UUID | None = None

    def exact(self) -> dict[str, Any]:
        return {"order_id": self.orderId}


class PartFilter(ListFilter):
    orderId: UUID | None = None
    productId: UUID | None = None

    def exact(self) -> dict[str, Any]:
        return {"order_id": self.orderId, "product_id": self.productId}


class _FarFuture(Value):
    """FAR_FUTURE, written into the SQL on SQLite as in the order_org_deadline index: SQLite
    uses an index on an expression only for the same expression, and a bound parameter is not
    its value (the deadline sort then sorted every order instead of walking the index)."""

    def __init__(self) -> None:
        super().__init__(FAR_FUTURE, output_field=DateTimeField())

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, tuple[()]]:
        literal = connection.ops.adapt_datetimefield_value(self.value)  # a constant, not input
        return f"'{literal}'", ()


_BY_CREATED_AND_NAME = {
    "createdAt": SortKey(F("created_at"), datetime),
    "name": SortKey(F("name"), str),
}
ORDER_SORT = {
    **_BY_CREATED_AND_NAME,
    "value": SortKey(F("value"), Decimal),
    "status": SortKey(F("status"), str),
    "deadline": SortKey(Coalesce(F("deadline"), _FarFuture()), datetime),
}
PRODUCT_SORT = {
    **_BY_CREATED_AND_NAME,
    "units": SortKey(F("units"), int),
    "value": SortKey(F("unit_value"), Decimal),
}
PART_SORT = _BY_CREATED_AND_NAME
