"""The database system check that reports missing SQLite FTS objects of the search."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from fabflow.core.search import check_fts
from fabflow.orders.models import Order, Part

sqlite_only = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="the FTS5 search tables are SQLite's"
)


@sqlite_only
def test_the_database_check_names_a_missing_search_trigger_and_the_repair(db: None) -> None:
    # given the orders' insert trigger is gone (as after a table rebuild)
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER orders_order_search_insert")
    # when the system checks of the database run
    errors = StringIO()
    call_command("check", databases=["default"], stderr=errors)
    # then a warning names it and tells how to make it again
    [warning] = check_fts(databases=["default"])
    assert (warning.id, warning.obj) == ("search.W001", Order)
    assert "orders_order_search_insert" in warning.msg
    assert warning.hint is not None and "fabflow migrate" in warning.hint
    assert "(search.W001)" in errors.getvalue()


@sqlite_only
def test_the_database_check_is_quiet_once_migrate_made_them_again(db: None) -> None:
    # given the FTS table of the parts is gone
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE orders_part_search")
    assert [w.obj for w in check_fts(databases=["default"])] == [Part]
    # when `migrate` runs with nothing to migrate, then the check is quiet
    call_command("migrate", verbosity=0)
    assert check_fts(databases=["default"]) == []


def test_the_database_check_is_quiet_on_a_migrated_database(db: None) -> None:
    assert check_fts(databases=["default"]) == []
