"""Django's PostgreSQL backend with our options: server-side parameters, prepared statements,
multi-row inserts within the parameter limit."""

from __future__ import annotations

import pytest
from django.db import connection

from fabflow.flows.engine import store
from fabflow.orders.models import Asset, Order, Part
from tests.factories import ApiClient, order_body

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL's options"
)

# PostgreSQL takes at most 65,535 parameters per statement when they are sent apart from the
# SQL (server-side binding); a part has 9 columns, so 7,282 parts are more than one INSERT.
PARTS_PER_PRODUCT = 500
PRODUCTS = 15


def test_an_order_with_more_parts_than_one_insert_takes_is_stored_whole(api: ApiClient) -> None:
    # given an order of 7,500 parts, each with a URL asset (more than one INSERT of either)
    products = [
        {
            "name": f"Plate {p}",
            "value": "1.00",
            "parts": [
                {"name": f"part {p}-{i}", "assets": [{"name": "a.stl", "url": "https://x.test/a"}]}
                for i in range(PARTS_PER_PRODUCT)
            ],
        }
        for p in range(PRODUCTS)
    ]
    # when it is posted
    response = api.post("/api/v1/orders", order_body(products=products))
    # then every part and asset is stored with the order
    assert response.status_code == 201, response.content[:500]
    order = Order.objects.get(pk=response.json()["id"])
    assert Part.objects.filter(order=order).count() == PRODUCTS * PARTS_PER_PRODUCT
    assert Asset.objects.filter(order=order).count() == PRODUCTS * PARTS_PER_PRODUCT


@postgresql_only
def test_repeated_statements_are_prepared_with_server_side_parameters(db: None) -> None:
    # given a connection made with the settings' options
    connection.ensure_connection()
    assert connection.connection.prepare_threshold == 1
    # when one of the store's statements runs twice
    for _ in range(2):
        store.inbox_of([0])
    # then the server holds it as a prepared statement with parameters ($1), so it is parsed
    # and planned once per connection
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [statement for (statement,) in cursor.fetchall()]
    assert any('FROM "flows_flowinbox" t WHERE' in s and "$1" in s for s in prepared)
