"""Our PostgreSQL backend: the health check without a round trip, prepared rows' timestamps."""

from __future__ import annotations

import time
from datetime import UTC

import psycopg
import pytest
from django.db import connection

from fabflow.core import rows
from fabflow.orders.models import Order
from tests.factories import ApiClient, order_body

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="fabflow.core.postgresql is PostgreSQL's backend"
)


def _last_statement(pid: int) -> str:
    other = connection.copy()
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid])
            return str(cursor.fetchone()[0])
    finally:
        other.close()


@pytest.mark.django_db(transaction=True)
def test_a_healthy_connection_is_checked_without_asking_the_server() -> None:
    # given an open connection whose last statement is known
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid(), 'health-probe'")
        pid = cursor.fetchone()[0]
    # when Django's health check asks whether it is usable
    assert connection.is_usable() is True
    # then the server ran nothing for it (no SELECT 1)
    assert "health-probe" in _last_statement(pid)


@pytest.mark.django_db(transaction=True)
def test_a_connection_the_server_ended_is_not_usable_and_is_replaced() -> None:
    # given a connection whose backend the server terminates
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    other = connection.copy()
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        other.close()
    time.sleep(0.2)  # the server's goodbye reaches the socket
    # when checked, then it is not usable, and the next statement runs on a new connection
    assert connection.is_usable() is False
    connection.health_check_done = False
    connection.close_if_health_check_failed()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != pid


def test_prepared_rows_read_timestamps_as_utc_datetimes(api: ApiClient) -> None:
    # given an order with a deadline in another time zone
    body = order_body(deadline="2026-12-24T12:00:00.5+05:00")
    created = api.post("/api/v1/orders", body).json()
    # when read through core/rows (server-side parameters, psycopg's C loader)
    [order] = rows.select(Order, where={"pk": created["id"]})
    # then the values are the ORM's: aware, UTC
    orm = Order.objects.get(pk=created["id"])
    assert (order.deadline, order.created_at) == (orm.deadline, orm.created_at)
    assert order.deadline.tzinfo is UTC
    assert order.deadline.isoformat() == "2026-12-24T07:00:00.500000+00:00"
    cursor = connection.server_cursor()  # type: ignore[attr-defined]
    assert isinstance(cursor, psycopg.Cursor)
    assert cursor.adapters.get_loader(1184, 0).__module__.startswith("psycopg_binary")
