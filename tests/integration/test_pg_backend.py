"""Django's PostgreSQL backend with our options: server-side parameters, prepared statements,
multi-row inserts within the parameter limit."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from fabflow.flows.engine import store
from fabflow.orders import assets
from fabflow.orders.assets import NewAsset
from fabflow.orders.inserts import insert_rows
from fabflow.orders.models import Asset, Order, Part
from tests.factories import ApiClient, order_body

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL's options"
)

# PostgreSQL takes at most 65,535 parameters per statement when they are sent apart from the
# SQL (server-side binding): a part has 9 columns, so 7,282 parts are more than one INSERT.
MANY = 7_500


def test_more_rows_than_one_insert_takes_are_stored_whole(api: ApiClient) -> None:
    # given an order (the API caps an order's parts; the inserts must not depend on that cap)
    order = Order.objects.get(pk=api.post("/api/v1/orders", order_body()).json()["id"])
    product = order.products.first()
    parts = [
        Part(organization_id=order.organization_id, order=order, product=product, name=f"p{i}")
        for i in range(MANY)
    ]
    urls = [NewAsset(f"a{i}.stl", Asset.Source.URL, url="https://x.test/a") for i in range(MANY)]
    # when that many parts and URL assets are written with intake's multi-row insert
    with transaction.atomic():
        insert_rows(parts)
        assets.create_assets(order=order, new=urls)
    # then every one is stored
    assert Part.objects.filter(order=order).count() == MANY + 4
    assert Asset.objects.filter(order=order, state=Asset.State.PENDING).count() == MANY


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


@postgresql_only
def test_prepared_statements_are_planned_with_their_values(db: None) -> None:
    # given a connection made with the settings' options
    with connection.cursor() as cursor:
        # when asking how the server plans prepared statements
        cursor.execute("SHOW plan_cache_mode")
        # then every run gets a plan for its own values, never the generic plan that scans a
        # list page's whole date range from its sixth run on
        assert cursor.fetchone() == ("force_custom_plan",)
