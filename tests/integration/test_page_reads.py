"""How list pages read the database: timestamps, the compiled statement, the covering index."""

from __future__ import annotations

from datetime import UTC

import pytest
from django.db import connection, connections
from django.test import Client

from fabflow.core import pagerows
from fabflow.orders.models import Order
from tests.factories import ApiClient, order_body

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL's backend and indexes"
)


@postgresql_only
def test_timestamps_are_read_by_psycopg_s_c_loader_as_utc_datetimes(
    api: ApiClient,
) -> None:
    from fabflow.core.postgresql.base import C_LOADER

    # given an order
    assert api.post("/api/v1/orders", order_body()).status_code == 201
    # when its timestamps are read, then psycopg's C loader gives aware UTC datetimes
    with connection.cursor() as cursor:
        assert C_LOADER is not None
        assert cursor.cursor.adapters.get_loader(1184, 0) is C_LOADER  # timestamptz, text
    created = Order.objects.get().created_at
    assert created.tzinfo is UTC
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::timestamptz", ["2026-01-01T10:00:00+05:00"])
        assert cursor.fetchone()[0].isoformat() == "2026-01-01T05:00:00+00:00"


@postgresql_only
def test_the_orders_created_index_carries_the_searched_columns(db: None) -> None:
    # the search's walk of order_org_created tests them without reading the table (0007)
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'order_org_created'")
        (definition,) = cursor.fetchone()
    assert definition.endswith("INCLUDE (name, third_party_order_id, customer_email)")


def test_a_page_s_statement_around_its_ids_is_compiled_once_per_shape(
    member: object, api: ApiClient
) -> None:
    # given an order and a member's browser
    assert api.post("/api/v1/orders", order_body(name="Ring 7")).status_code == 201
    browser = Client()
    browser.force_login(member)
    compiled = pagerows._compiled.setdefault(connections["default"], {})
    compiled.clear()
    # when the orders page is shown with two searches and the same ordering
    for q in ("ring", "7"):
        assert "Ring 7" in browser.get("/orders", {"q": q}).content.decode()
    # then the statement around the ids was compiled once, and once more for another ordering
    assert len(compiled) == 1
    assert "Ring 7" in browser.get("/orders", {"ordering": "deadline"}).content.decode()
    assert len(compiled) == 2
