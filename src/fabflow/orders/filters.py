"""The one filter definition of each list: used by the API now and the web tables later."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db.models import DateTimeField, F, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from ninja import Schema
from pydantic import ConfigDict, Field, field_validator

from fabflow.core.pagination import SortKey
from fabflow.core.types import UtcDatetime
from fabflow.orders.models import FAR_FUTURE, Order, OrderStatus, Product


def _clean_text(value: str | None) -> str | None:
    if value is not None and ("\x00" in value):
        raise ValueError("NUL characters are not allowed")
    return value.strip() if value else None


class ListFilter(Schema):
    model_config = ConfigDict(extra="forbid")

    createdAfter: UtcDatetime | None = None
    createdBefore: UtcDatetime | None = None
    q: str | None = Field(default=None, max_length=200, description="Text search")

    _q = field_validator("q")(_clean_text)

    def created_q(self, prefix: str = "") -> Q:
        cond = Q()
        if self.createdAfter:
            cond &= Q(**{f"{prefix}created_at__gte": self.createdAfter})
        if self.createdBefore:
            cond &= Q(**{f"{prefix}created_at__lt": self.createdBefore})
        return cond


class OrderFilter(ListFilter):
    status: list[OrderStatus] | None = None
    tag: str | None = Field(default=None, max_length=50)

    _tag = field_validator("tag")(_clean_text)

    def apply(self, qs: QuerySet[Any]) -> QuerySet[Any]:
        qs = qs.filter(self.created_q())
        if self.status:
            qs = qs.filter(status__in=self.status)
        if self.tag:
            qs = qs.filter(tag_index__contains=f"|{self.tag.lower()}|")
        if self.q:
            qs = qs.filter(
                Q(name__icontains=self.q)
                | Q(third_party_order_id__icontains=self.q)
                | Q(customer_email__icontains=self.q)
            )
        return qs


class ProductFilter(ListFilter):
    orderId: UUID | None = None

    def apply(self, qs: QuerySet[Any]) -> QuerySet[Any]:
        qs = qs.filter(self.created_q())
        if self.orderId:
            qs = qs.filter(order_id=self.orderId)
        if self.q:
            # Matching orders are found once (a subquery), not by joining every product walked.
            orders = Order.objects.filter(name__icontains=self.q).values("id")
            qs = qs.filter(
                Q(name__icontains=self.q)
                | Q(order_id__in=orders)
                | Q(configuration_id__icontains=self.q)
            )
        return qs


class PartFilter(ListFilter):
    orderId: UUID | None = None
    productId: UUID | None = None

    def apply(self, qs: QuerySet[Any]) -> QuerySet[Any]:
        qs = qs.filter(self.created_q())
        if self.orderId:
            qs = qs.filter(order_id=self.orderId)
        if self.productId:
            qs = qs.filter(product_id=self.productId)
        if self.q:
            # Matching products and orders are found once each (subqueries), not by joining
            # both tables to every part while walking the parts.
            products = Product.objects.filter(name__icontains=self.q).values("id")
            orders = Order.objects.filter(name__icontains=self.q).values("id")
            qs = qs.filter(
                Q(name__icontains=self.q) | Q(product_id__in=products) | Q(order_id__in=orders)
            )
        return qs


ORDER_SORT = {
    "createdAt": SortKey(F("created_at"), datetime),
    "name": SortKey(F("name"), str),
    "value": SortKey(F("value"), Decimal),
    "status": SortKey(F("status"), str),
    "deadline": SortKey(
        Coalesce(F("deadline"), Value(FAR_FUTURE, output_field=DateTimeField())), datetime
    ),
}
PRODUCT_SORT = {
    "createdAt": SortKey(F("created_at"), datetime),
    "name": SortKey(F("name"), str),
    "units": SortKey(F("units"), int),
    "value": SortKey(F("unit_value"), Decimal),
}
PART_SORT = {
    "createdAt": SortKey(F("created_at"), datetime),
    "name": SortKey(F("name"), str),
}
