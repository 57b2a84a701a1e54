"""Reads for orders, products, parts and assets, always scoped to a principal."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from django.db.models import QuerySet
from django.http import Http404

from fabflow.accounts.auth import Principal
from fabflow.exports.downloads import served_type
from fabflow.orders import hooks
from fabflow.orders.kinds import LABELS
from fabflow.orders.models import Asset, Order, OrderEvent, Part, Product


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


def asset_for(who: Principal, asset_id: UUID) -> Asset | None:
    """One asset `who` may see, or None."""
    return assets_for(who).filter(pk=asset_id).first()


def signed_asset(asset_id: UUID) -> Asset | None:
    """An asset by id, for a caller whose download token for this very id was checked:
    the signature is the scope."""
    return Asset.objects.filter(pk=asset_id).first()


def recent_events(order: Order, *, limit: int = 200) -> QuerySet[OrderEvent]:
    """The (already scoped) order's newest events first, for its page."""
    return OrderEvent.objects.filter(order=order).order_by("-id")[:limit]


def timeline(order: Order, *, limit: int = 200) -> list[dict[str, Any]]:
    """The (already scoped) order's newest events first, each with its label; the events of
    one task run as one group (oldest first, where the run's newest event is) with its task."""
    tasks = {str(task["id"]): task for task in hooks.flows().tasks_json(order)}
    items: list[dict[str, Any]] = []
    runs: dict[str, dict[str, Any]] = {}
    for event in recent_events(order, limit=limit):
        entry = {"event": event, "label": LABELS.get(event.kind, "Event")}
        run_id = None if event.kind.startswith("flow.") else event.data.get("taskRunId")
        if run_id is None:
            items.append(entry)
        else:
            if run_id not in runs:
                runs[run_id] = {"task": tasks.get(run_id), "events": []}
                items.append(runs[run_id])
            runs[run_id]["events"].insert(0, entry)
    return items


def events_after(*, order: Order, after: int, limit: int) -> list[OrderEvent]:
    """The (already scoped) order's events after id `after`, oldest first: one more than
    `limit` when there is a next page."""
    return list(OrderEvent.objects.filter(order=order, id__gt=after).order_by("id")[: limit + 1])


def order_part(*, order: Order, part_id: UUID) -> Part | None:
    """A part of the (already scoped) order, with its product, or None."""
    return order.parts.filter(pk=part_id).select_related("product").first()


def order_product(*, order: Order, product_id: UUID) -> Product | None:
    """A product of the (already scoped) order, or None."""
    return order.products.filter(pk=product_id).first()


def product_parts(product: Product) -> QuerySet[Part]:
    """The (already scoped) product's parts in their order."""
    return product.parts.order_by("position")


def product_assets(product: Product) -> list[Asset]:
    """The (already scoped) product's assets, its parts' included."""
    return list(Asset.objects.filter(product=product))


def part_assets(part: Part) -> QuerySet[Asset]:
    return part.assets.all()


def ready_assets(order: Order) -> QuerySet[Asset]:
    """The (already scoped) order's ready files with their product, oldest first (the first
    of two same names keeps it in a zip)."""
    return (
        Asset.objects.filter(order=order, state=Asset.State.READY)
        .select_related("product")
        .order_by("created_at", "pk")
    )


def parts_by_product(who: Principal, products: list[Product]) -> dict[Any, list[Part]]:
    """The parts of `products` that `who` may see, in one query, by product id."""
    return grouped(list(parts_for(who).filter(product__in=products)), "product_id")


def assets_by_part(parts: list[Part]) -> dict[Any, list[Asset]]:
    """The assets of the (already scoped) `parts`, in one query, by part id."""
    return grouped(list(Asset.objects.filter(part__in=parts)), "part_id")


def thumbnail(name: str, own: Iterable[Asset], of_parts: Iterable[Asset] = ()) -> Asset | None:
    """The picture that stands for a product (or part) called `name`: its preview `<name>.png`
    (what `generate-production-files` makes), else its first image, else its parts' first.
    Only ready images a browser may show inline count."""
    images = [a for a in own if a.state == Asset.State.READY and served_type(a.content_type)]
    preview = f"{name.replace('/', '-')}.png"
    for asset in images:
        if asset.name == preview and asset.source == Asset.Source.FLOW:
            return asset
    if images:
        return images[0]
    parts = [a for a in of_parts if a.state == Asset.State.READY and served_type(a.content_type)]
    return parts[0] if parts else None


def thumbnails(products: Sequence[Product]) -> dict[Any, Asset]:
    """The thumbnail of each of the (already scoped) `products`, in one query, by id."""
    rows = Asset.objects.filter(
        product__in=[p.pk for p in products],
        state=Asset.State.READY,
        content_type__istartswith="image/",
    ).order_by("created_at", "pk")
    own = grouped([a for a in rows if not a.part_id], "product_id")
    of_parts = grouped([a for a in rows if a.part_id], "product_id")
    found = {}
    for product in products:
        chosen = thumbnail(product.name, own.get(product.pk, []), of_parts.get(product.pk, []))
        if chosen is not None:
            found[product.pk] = chosen
    return found


def grouped(rows: list[Any], attr: str) -> dict[Any, list[Any]]:
    """`rows` by the value of their attribute `attr`, in their order."""
    by: dict[Any, list[Any]] = {}
    for row in rows:
        by.setdefault(getattr(row, attr), []).append(row)
    return by
