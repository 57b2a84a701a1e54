"""Keyset pagination keeps what the caller's queryset asks for: annotations, joins, prefetches."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from django.db.models import Count, Prefetch
from django.test import RequestFactory

from fabflow.core.pagination import paginate
from fabflow.orders.filters import ORDER_SORT, PRODUCT_SORT
from fabflow.orders.models import Order, Product
from tests.factories import ApiClient, Tenant, order_body


def _cursor(next_url: str | None) -> str:
    assert next_url is not None
    return parse_qs(urlparse(next_url).query)["cursor"][0]


@pytest.fixture
def three_orders(api: ApiClient) -> None:
    """Orders A, B and C with 1, 2 and 3 products."""
    for n, name in enumerate("ABC", start=1):
        products = [{"name": f"{name}{i}", "parts": []} for i in range(n)]
        body = order_body(f"T-{name}", name=name, products=products)
        assert api.post("/api/v1/orders", body).status_code == 201


def test_a_page_keeps_the_annotations_and_prefetches_of_its_queryset(
    three_orders: None, tenant: Tenant, django_assert_num_queries: Any
) -> None:
    # given orders annotated with their number of products, their products prefetched
    qs = (
        Order.objects.filter(space=tenant.space)
        .annotate(product_count=Count("products"))
        .prefetch_related(Prefetch("products", queryset=Product.objects.order_by("position")))
    )
    request = RequestFactory().get("/api/v1/orders")

    def page(cursor: str | None) -> tuple[list[Any], str | None]:
        rows, next_url = paginate(
            request, qs, keys=ORDER_SORT, ordering="name", limit=2, cursor=cursor
        )
        return [(o.name, o.product_count, [p.name for p in o.products.all()]) for o in rows], (
            next_url
        )

    # when the first page of two is read: one statement for the page, one for its products
    with django_assert_num_queries(2):
        first, next_url = page(None)
    # then each order has its count and its products
    assert first == [("A", 1, ["A0"]), ("B", 2, ["B0", "B1"])]
    # and so does the next page, the last
    with django_assert_num_queries(2):
        second, last = page(_cursor(next_url))
    assert second == [("C", 3, ["C0", "C1", "C2"])]
    assert last is None


def test_a_page_keeps_the_joins_and_columns_of_its_queryset(
    three_orders: None, tenant: Tenant, django_assert_num_queries: Any
) -> None:
    # given products with their orders joined, only their names read
    qs = (
        Product.objects.filter(order__space=tenant.space)
        .select_related("order")
        .only("name", "created_at", "order__name")
    )
    request = RequestFactory().get("/api/v1/products")
    # when a page sorted by name descending is read, then one statement reads it all
    with django_assert_num_queries(1):
        rows, next_url = paginate(
            request, qs, keys=PRODUCT_SORT, ordering="-name", limit=4, cursor=None
        )
        names = [(p.name, p.order.name) for p in rows]
    assert names == [("C2", "C"), ("C1", "C"), ("C0", "C"), ("B1", "B")]
    # and the columns it left out stay deferred
    assert rows[0].get_deferred_fields() >= {"configuration", "units"}
    # and the next page continues after the cursor
    rest, _ = paginate(
        request, qs, keys=PRODUCT_SORT, ordering="-name", limit=4, cursor=_cursor(next_url)
    )
    assert [p.name for p in rest] == ["B0", "A0"]
