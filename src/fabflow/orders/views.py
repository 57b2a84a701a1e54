"""Web pages of orders, products and parts: tables, details, exports and manual tasks."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseRedirect,
)
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from fabflow.accounts import selectors as account_selectors
from fabflow.accounts.services import save_hidden_columns
from fabflow.accounts.web import member_required, principal, user
from fabflow.core.tables import Table
from fabflow.core.web import table_page
from fabflow.exports.archive import Archive, segment
from fabflow.exports.downloads import served_type
from fabflow.exports.tables import LIMIT as EXPORT_LIMIT
from fabflow.orders import selectors
from fabflow.orders.assets import file_response
from fabflow.orders.filters import OrderFilter, PartFilter, ProductFilter
from fabflow.orders.hooks import page_sections
from fabflow.orders.models import Asset, OrderStatus, Part, Product
from fabflow.orders.tables import EXPORTS, ORDERS, PARTS, PRODUCTS, TABLES


def _saved_columns(request: HttpRequest, table: Table) -> tuple[list[str], list[str]] | None:
    return account_selectors.column_choice(user(request), table.name)


@member_required
def orders(request: HttpRequest) -> HttpResponse:
    tags = {t.lower() for t in user(request).tags}
    qs = selectors.orders_scoped(principal(request))
    context = table_page(
        request,
        ORDERS,
        qs,
        OrderFilter,
        saved_columns=_saved_columns(request, ORDERS),
        row_css=lambda o: "tag-match" if tags & {t.lower() for t in o.tags} else "",
    )
    context.update(
        title="Orders", filters_template="orders/order_filters.html", statuses=OrderStatus.choices
    )
    return render(request, "orders/list.html", context)


@member_required
def products(request: HttpRequest) -> HttpResponse:
    qs = selectors.products_for(principal(request))
    saved = _saved_columns(request, PRODUCTS)
    context = table_page(request, PRODUCTS, qs, ProductFilter, saved_columns=saved)
    context.update(title="Products", filters_template="orders/date_filters.html")
    return render(request, "orders/list.html", context)


@member_required
def parts(request: HttpRequest) -> HttpResponse:
    qs = selectors.parts_for(principal(request))
    context = table_page(
        request, PARTS, qs, PartFilter, saved_columns=_saved_columns(request, PARTS)
    )
    context.update(title="Parts", filters_template="orders/date_filters.html")
    return render(request, "orders/list.html", context)


@member_required
@require_POST
def table_columns(request: HttpRequest, name: str) -> HttpResponse:
    table = TABLES.get(name)
    if table is None:
        raise Http404
    visible = set(request.POST.getlist("visible"))
    hidden = [c.key for c in table.columns if c.key not in visible]
    shown = [c.key for c in table.columns if c.key in visible]
    save_hidden_columns(user=user(request), table=name, hidden=hidden, shown=shown)
    target = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()})
    return HttpResponseRedirect(target if safe and target else f"/{name}")


# Details --------------------------------------------------------------------------------------


@member_required
def order(request: HttpRequest, order_id: UUID) -> HttpResponse:
    obj = selectors.get_or_404(selectors.orders_for(principal(request)), order_id)
    products_, parts_, assets = selectors.order_items(obj)
    parts_by_product = selectors.grouped(parts_, "product_id")
    thumbnails = _thumbnails(products_, assets)
    own = [a for a in assets if not a.product_id]
    images = _images(assets)
    # The order's picture: an image of its own, else its first product's thumbnail.
    pictures = _images(own) + [t for t in thumbnails.values() if t is not None]
    return render(
        request,
        "orders/order.html",
        {
            "order": obj,
            "products": [(p, parts_by_product.get(p.id, []), thumbnails[p.id]) for p in products_],
            "assets": own,
            "files": _files(products_, parts_by_product, assets),
            "images": images,
            "thumbnail": pictures[0] if pictures else None,
            # What other apps show of the order (the flows app: tasks, graph, actions).
            "sections": [render_section(request, obj) for render_section in page_sections()],
            "timeline": selectors.timeline(obj),
            "title": obj.name,
        },
    )


def _files(
    products: list[Product], parts: dict[Any, list[Part]], assets: list[Asset]
) -> list[tuple[Product, list[Asset], list[tuple[Part, list[Asset]]]]]:
    """The files of each product that has some: its own, then each of its parts' (those with
    files), as production reads them."""
    own = selectors.grouped([a for a in assets if not a.part_id], "product_id")
    by_part = selectors.grouped(assets, "part_id")
    files = []
    for product in products:
        of_parts = [(p, by_part[p.id]) for p in parts.get(product.id, []) if p.id in by_part]
        if product.id in own or of_parts:
            files.append((product, own.get(product.id, []), of_parts))
    return files


def _thumbnails(products: list[Product], assets: list[Asset]) -> dict[Any, Asset | None]:
    own = selectors.grouped([a for a in assets if not a.part_id], "product_id")
    of_parts = selectors.grouped([a for a in assets if a.part_id], "product_id")
    return {
        p.id: selectors.thumbnail(p.name, own.get(p.id, []), of_parts.get(p.id, []))
        for p in products
    }


def _images(assets: list[Asset]) -> list[Asset]:
    """The ready images the browser is allowed to show inline (never an SVG): thumbnails."""
    return [a for a in assets if a.state == Asset.State.READY and served_type(a.content_type)]


@member_required
def product(request: HttpRequest, product_id: UUID) -> HttpResponse:
    obj = selectors.get_or_404(
        selectors.products_for(principal(request)).select_related("order"), product_id
    )
    assets = selectors.product_assets(obj)
    own = [a for a in assets if not a.part_id]
    return render(
        request,
        "orders/product.html",
        {
            "product": obj,
            "parts": selectors.product_parts(obj),
            "assets": assets,
            "images": _images(assets),
            "thumbnail": selectors.thumbnail(obj.name, own, [a for a in assets if a.part_id]),
            "title": obj.name,
        },
    )


@member_required
def part(request: HttpRequest, part_id: UUID) -> HttpResponse:
    obj = selectors.get_or_404(
        selectors.parts_for(principal(request)).select_related("order", "product"), part_id
    )
    assets = list(selectors.part_assets(obj))
    return render(
        request,
        "orders/part.html",
        {
            "part": obj,
            "assets": assets,
            "images": _images(assets),
            "thumbnail": selectors.thumbnail(obj.name, assets),
            "title": obj.name,
        },
    )


@member_required
def order_files(request: HttpRequest, order_id: UUID) -> HttpResponseBase:
    """All files of an order as one zip, streamed."""
    obj = selectors.get_or_404(selectors.orders_for(principal(request)), order_id)
    archive = Archive()
    for asset in selectors.ready_assets(obj):
        folder = segment(asset.product.name) if asset.product else ""
        archive.add_stored(f"{folder}/{asset.name}", asset.file)
    return archive.response(f"{obj.name}-files")


@member_required
def download(request: HttpRequest, asset_id: UUID) -> HttpResponseBase:
    asset = selectors.asset_for(principal(request), asset_id)
    if asset is None or asset.state != Asset.State.READY or not asset.file:
        raise Http404
    return file_response(asset)


# Exports --------------------------------------------------------------------------------------


@member_required
@require_POST
def export(request: HttpRequest, name: str, kind: str) -> HttpResponseBase:
    """Selected rows (at most 50) as CSV of the visible columns, or a zip with files."""
    exporter = EXPORTS.get(name)
    if exporter is None or kind not in exporter.kinds:
        raise Http404
    ids = request.POST.getlist("ids")
    if not ids:
        return HttpResponseBadRequest("Select at least one row.")
    if len(ids) > EXPORT_LIMIT:
        return HttpResponseBadRequest(f"At most {EXPORT_LIMIT} rows can be exported at once.")
    try:
        uuids = [UUID(i) for i in ids]
    except ValueError:
        return HttpResponseBadRequest("Invalid row id.")
    table = exporter.table
    rows = exporter.rows(_scoped[name](principal(request)), uuids)
    columns = table.visible(table.hidden(_saved_columns(request, table)))
    return exporter.response(kind, columns, rows)


_scoped = {
    "orders": selectors.orders_scoped,
    "products": selectors.products_for,
    "parts": selectors.parts_for,
}
