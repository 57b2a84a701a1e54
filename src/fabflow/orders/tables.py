"""The orders, products and parts tables of the web app (columns, links, sort keys), and how
their selected rows are exported."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from django.db.models import Prefetch
from django.db.models.fields.json import KT
from django.urls import reverse

from fabflow.core.tables import Column, Link, Table, hours_minutes
from fabflow.exports import csvfile
from fabflow.exports.tables import TableExport
from fabflow.orders import selectors
from fabflow.orders.filters import ORDER_SORT, PART_SORT, PRODUCT_SORT
from fabflow.orders.hooks import flows
from fabflow.orders.models import Asset, Order, OrderStatus, Part, Product

_STATUS = dict(OrderStatus.choices)  # get_status_display() rebuilds this for every call


def _load_steps(orders: Sequence[Order]) -> None:
    steps = flows().current_steps(o.id for o in orders)
    for o in orders:
        o.current_step = steps.get(o.id, "")  # type: ignore[attr-defined]


def _load_flows(orders: Sequence[Order]) -> None:
    """The flows each order in Created can start (those of its space)."""
    created = [o for o in orders if o.status == OrderStatus.CREATED]
    names = flows().flow_names({o.space_id for o in created}) if created else {}
    for o in orders:
        startable = o.status == OrderStatus.CREATED
        o.flows = names.get(o.space_id, []) if startable else []  # type: ignore[attr-defined]


def _load_customers(orders: Sequence[Order]) -> None:
    """Each order's customer, "name · e-mail": the name read from its JSON document only
    when the column is shown (a page otherwise reads no JSON document)."""
    rows = Order.objects.filter(pk__in=[o.pk for o in orders])
    found = rows.values_list("pk", KT("customer_info__name"), "customer_email")
    customers = {pk: " · ".join(v for v in (name, email) if v) for pk, name, email in found}
    for o in orders:
        o.customer = customers.get(o.pk, "")  # type: ignore[attr-defined]


ORDERS = Table(
    name="orders",
    search_placeholder="Search order, shop id or e-mail",
    sort_keys=ORDER_SORT,
    # tags: the rows' highlighting; space: the flows a row can start
    fields=("name", "status", "value", "created_at", "deadline", "tags", "space"),
    columns=[
        Column("order", "Order", lambda o: o.name, sort="name", link=Link("order", "id")),
        Column(
            "status",
            "Status",
            lambda o: _STATUS.get(o.status, o.status),
            sort="status",
            kind="status",
            badge=lambda o: o.status,
        ),
        Column("step", "Current step", lambda o: o.current_step, hidden=True, load=_load_steps),
        Column("customer", "Customer", lambda o: o.customer, hidden=True, load=_load_customers),
        Column("value", "Value (€)", lambda o: o.value, sort="value", kind="money"),
        Column("created", "Created at", lambda o: o.created_at, sort="createdAt", kind="date"),
        Column("deadline", "Deadline", lambda o: o.deadline, sort="deadline", kind="date"),
        Column("order_id", "Order ID", lambda o: o.id, hidden=True, kind="id"),
        Column(
            "start",
            "Start flow",
            lambda o: o.flows,
            link=Link("order_action", "id", args=("start",)),
            kind="start",
            load=_load_flows,
        ),
    ],
)


_ID = "00000000-0000-0000-0000-000000000000"


def _load_thumbnails(products: Sequence[Product]) -> None:
    """Each product's thumbnail (its preview, else an image of it or its parts): one query."""
    found = selectors.thumbnails(products)
    url = reverse("download", args=[_ID])  # once a page, as Link does
    for p in products:
        thumb = found.get(p.pk)
        p.thumbnail_url = url.replace(_ID, str(thumb.pk)) if thumb else ""  # type: ignore[attr-defined]


PRODUCTS = Table(
    name="products",
    search_placeholder="Search product, order or configuration",
    sort_keys=PRODUCT_SORT,
    exports=["csv", "zip"],
    fields=("name", "units", "unit_value", "created_at", "order", "order__name"),
    related=("order",),
    columns=[
        Column(
            "thumbnail", "Preview", lambda p: p.thumbnail_url, kind="image", load=_load_thumbnails
        ),
        Column("product", "Product", lambda p: p.name, sort="name", link=Link("product", "id")),
        Column("order", "Order", lambda p: p.order.name, link=Link("order", "order_id")),
        Column("units", "Amount of units", lambda p: p.units, sort="units", kind="number"),
        Column("value", "Value (€ per unit)", lambda p: p.unit_value, sort="value", kind="money"),
        Column("created", "Created at", lambda p: p.created_at, sort="createdAt", kind="date"),
        Column("product_id", "Product ID", lambda p: p.id, hidden=True, kind="id"),
        Column("order_id", "Order ID", lambda p: p.order_id, hidden=True, kind="id"),
    ],
)


def _load_figure(key: str, attr: str, kind: type[float] | type[int]) -> Any:
    """A loader of one manufacturing figure of each part (the `slice` task writes them), read
    from its JSON document only when the column is shown."""

    def load(parts: Sequence[Part]) -> None:
        rows = Part.objects.filter(pk__in=[p.pk for p in parts])
        found = dict(rows.values_list("pk", KT(f"manufacturing_data__{key}")))
        for p in parts:
            setattr(p, attr, _number(found.get(p.pk), kind))

    return load


def _number(text: str | None, kind: type[float] | type[int]) -> float | int | None:
    try:
        return kind(float(text)) if text is not None else None
    except ValueError:  # a figure some other writer stored as text
        return None


PARTS = Table(
    name="parts",
    search_placeholder="Search part, product or order",
    sort_keys=PART_SORT,
    exports=["csv", "zip-csv", "zip"],
    fields=("name", "created_at", "order", "order__name", "product", "product__name"),
    related=("order", "product"),
    columns=[
        Column("part", "Part", lambda p: p.name, sort="name", link=Link("part", "id")),
        Column("product", "Product", lambda p: p.product.name, link=Link("product", "product_id")),
        Column("order", "Order", lambda p: p.order.name, link=Link("order", "order_id")),
        Column("created", "Created at", lambda p: p.created_at, sort="createdAt", kind="date"),
        Column(
            "print_time",
            "Print time",
            lambda p: hours_minutes(p.print_time_s),
            hidden=True,
            load=_load_figure("printTimeS", "print_time_s", int),
        ),
        Column(
            "filament_g",
            "Filament (g)",
            lambda p: p.filament_g,
            hidden=True,
            kind="number",
            load=_load_figure("filamentG", "filament_g", float),
        ),
        Column("part_id", "Part ID", lambda p: p.id, hidden=True, kind="id"),
        Column("product_id", "Product ID", lambda p: p.product_id, hidden=True, kind="id"),
        Column("order_id", "Order ID", lambda p: p.order_id, hidden=True, kind="id"),
    ],
)

TABLES = {t.name: t for t in (ORDERS, PRODUCTS, PARTS)}


def _manufacturing_data(parts: Sequence[Part]) -> list[tuple[str, str]]:
    """One row per part, one column per manufacturing field any of them has."""
    fields = sorted({key for part in parts for key in part.manufacturing_data})

    def row(p: Part) -> list[Any]:
        data = [_scalar(p.manufacturing_data.get(f)) for f in fields]
        return [p.id, p.name, p.product.name, p.order.name, *data]

    header = ["Part ID", "Part", "Product", "Order", *fields]
    return [("csv/manufacturing-data.csv", csvfile.render(header, map(row, parts)))]


def _scalar(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, (dict, list)) else value


def _ready_assets() -> Prefetch[Any]:
    ready = Asset.objects.filter(state=Asset.State.READY).order_by("created_at")
    return Prefetch("assets", queryset=ready, to_attr="ready_assets")


EXPORTS = {
    "orders": TableExport(ORDERS, csv_entry="orders.csv"),
    "products": TableExport(
        PRODUCTS,
        csv_entry="products.csv",
        files=lambda product: product.ready_assets,
        prefetch=[_ready_assets()],
    ),
    "parts": TableExport(
        PARTS,
        csv_entry="csv/parts.csv",
        sheets=_manufacturing_data,
        files=lambda part: part.ready_assets,
        files_folder="files",
        prefetch=[_ready_assets()],
    ),
}
