"""How list pages read the database: one statement per page, the covering index."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.factories import ApiClient, order_body

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL's indexes"
)


@postgresql_only
def test_the_orders_created_index_carries_the_searched_columns(db: None) -> None:
    # the search's walk of order_org_created tests them without reading the table (0007)
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'order_org_created'")
        (definition,) = cursor.fetchone()
    assert definition.endswith("INCLUDE (name, third_party_order_id, customer_email)")


@pytest.mark.parametrize("path", ["/orders", "/products", "/parts"])
def test_a_table_page_reads_its_rows_in_one_statement_however_many_there_are(
    member: object, api: ApiClient, path: str
) -> None:
    # given a member's browser and one order (two products of two parts)
    assert api.post("/api/v1/orders", order_body("P-1")).status_code == 201
    browser = Client()
    browser.force_login(member)

    def statements() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert browser.get(path).status_code == 200
        return len(queries)

    one = statements()
    # when two more orders come in, then the page reads as many statements as before
    for tpo in ("P-2", "P-3"):
        assert api.post("/api/v1/orders", order_body(tpo)).status_code == 201
    assert statements() == one
    # which are the session, user, organization, table preferences and the page's rows (and
    # on the orders page, the flows its orders in Created can start; on the products page,
    # the products' thumbnails)
    assert one == (5 if path == "/parts" else 6)
