"""The orders, products and parts tables of the web app (columns, links, sort keys)."""

from __future__ import annotations

from fabflow.core.tables import Column, Link, Table
from fabflow.orders.filters import ORDER_SORT, PART_SORT, PRODUCT_SORT
from fabflow.orders.models import OrderStatus

_STATUS = dict(OrderStatus.choices)  # get_status_display() rebuilds this for every call


ORDERS = Table(
    name="orders",
    search_placeholder="Search order, shop id or e-mail",
    sort_keys=ORDER_SORT,
    fields=("name", "status", "value", "created_at", "deadline", "tags"),  # tags: highlighting
    columns=[
        Column(
            "order",
            "Order",
            lambda o: o.name,
            sort="name",
            link=Link("order", "id"),
        ),
        Column(
            "status",
            "Status",
            lambda o: _STATUS.get(o.status, o.status),
            sort="status",
            kind="status",
        ),
        Column("value", "Value (€)", lambda o: o.value, sort="value", kind="money"),
        Column("created", "Created at", lambda o: o.created_at, sort="createdAt", kind="date"),
        Column("deadline", "Deadline", lambda o: o.deadline, sort="deadline", kind="date"),
        Column("order_id", "Order ID", lambda o: o.id, hidden=True, kind="id"),
    ],
)

PRODUCTS = Table(
    name="products",
    search_placeholder="Search product, order or configuration",
    sort_keys=PRODUCT_SORT,
    exports=["csv", "zip"],
    fields=("name", "units", "unit_value", "created_at", "order", "order__name"),
    columns=[
        Column(
            "product",
            "Product",
            lambda p: p.name,
            sort="name",
            link=Link("product", "id"),
        ),
        Column("order", "Order", lambda p: p.order.name, link=Link("order", "order_id")),
        Column("units", "Amount of units", lambda p: p.units, sort="units", kind="number"),
        Column("value", "Value (€ per unit)", lambda p: p.unit_value, sort="value", kind="money"),
        Column("created", "Created at", lambda p: p.created_at, sort="createdAt", kind="date"),
        Column("product_id", "Product ID", lambda p: p.id, hidden=True, kind="id"),
        Column("order_id", "Order ID", lambda p: p.order_id, hidden=True, kind="id"),
    ],
)

PARTS = Table(
    name="parts",
    search_placeholder="Search part, product or order",
    sort_keys=PART_SORT,
    exports=["csv", "zip-csv", "zip"],
    fields=("name", "created_at", "order", "order__name", "product", "product__name"),
    columns=[
        Column(
            "part",
            "Part",
            lambda p: p.name,
            sort="name",
            link=Link("part", "id"),
        ),
        Column("product", "Product", lambda p: p.product.name, link=Link("product", "product_id")),
        Column("order", "Order", lambda p: p.order.name, link=Link("order", "order_id")),
        Column("created", "Created at", lambda p: p.created_at, sort="createdAt", kind="date"),
        Column("part_id", "Part ID", lambda p: p.id, hidden=True, kind="id"),
        Column("product_id", "Product ID", lambda p: p.product_id, hidden=True, kind="id"),
        Column("order_id", "Order ID", lambda p: p.order_id, hidden=True, kind="id"),
    ],
)

TABLES = {t.name: t for t in (ORDERS, PRODUCTS, PARTS)}
