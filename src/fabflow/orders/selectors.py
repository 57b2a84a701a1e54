"""Reads for orders, products, parts and assets, always scoped to a principal."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db.models import QuerySet
from django.http import Http404

from fabflow.accounts.auth import Principal
from fabflow.orders import hooks
from fabflow.orders.models import Asset, Order, Part, Product


def orders_scoped(who: Principal) -> QuerySet[Order]:
    """The orders `who` may see, nothing joined (the web table reads only its own columns)."""
    return Order.objects.filter(**who.order_filter())


def orders_for(who: Principal) -> QuerySet[Order]:
    return orders_scoped(who).select_related("space")


def order_list(who: Principal) -> QuerySet[Order]:
    """Orders for lists: without the large JSON documents that only the detail shows."""
    return orders_for(who).defer(
        "data",
        "addresses",
        "customer_info",
        "space__signing_secret",
    )


def products_for(who: Principal) -> QuerySet[Product]:
    return Product.objects.filter(**who.order_filter("order__"))


def parts_for(who: Principal) -> QuerySet[Part]:
    return Part.objects.filter(**who.order_filter("order__"))


def assets_for(who: Principal) -> QuerySet[Asset]:
    return Asset.objects.filter(**who.order_filter("order__", own_organization=False))


def get_or_404(qs: QuerySet[Any], pk: UUID) -> Any:
    """One row of a scoped queryset; another tenant's id is simply not found."""
    obj = qs.filter(pk=pk).first()
    if obj is None:
        raise Http404("not found")
    return obj


def order_rows(
    order: Order,
) -> tuple[list[Product], list[Part], list[Asset], list[dict[str, Any]]]:
    """Everything the full order object needs: its items and the task runs of its flow."""
    return (*order_items(order), hooks.flows().tasks_json(order))


def order_items(order: Order) -> tuple[list[Product], list[Part], list[Asset]]:
    """The order's products, parts and assets, in three queries."""
    return (
        list(Product.objects.filter(order=order).order_by("position")),
        list(Part.objects.filter(order=order).order_by("product_id", "position")),
        list(Asset.objects.filter(order=order).order_by("created_at", "id")),
    )
