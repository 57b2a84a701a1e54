"""The search keeps finding orders after a migration that makes SQLite rebuild a table."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader

import fabflow.orders.migrations
from fabflow.orders.models import Order
from tests.factories import ApiClient, order_body

sqlite_only = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="the FTS5 search tables are SQLite's"
)

# An ordinary field with a default: SQLite cannot add it in place, so Django rebuilds the
# table (and drops its triggers). Nullable, so that the models, which lack it, still insert.
THROWAWAY = """from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("orders", "{leaf}")]

    operations = [
        migrations.AddField(
            "order", "gift_note", models.CharField(max_length=200, null=True, default="none")
        )
    ]
"""


@pytest.fixture
def throwaway_migration(
    settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """The orders' migrations and one more that adds a field to Order, unapplied afterwards."""
    leaf = MigrationLoader(connection).graph.leaf_nodes("orders")[0][1]
    package = f"throwaway_{uuid.uuid4().hex}"
    shutil.copytree(
        Path(fabflow.orders.migrations.__file__).parent,
        tmp_path / package,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    (tmp_path / package / "9999_throwaway.py").write_text(THROWAWAY.format(leaf=leaf))
    monkeypatch.syspath_prepend(str(tmp_path))
    settings.MIGRATION_MODULES = {"orders": package}
    yield
    call_command("migrate", "orders", leaf, verbosity=0)


def found(api: ApiClient, q: str) -> list[str]:
    response = api.get("/api/v1/orders", q=q)
    assert response.status_code == 200, response.content
    return [order["id"] for order in response.json()["items"]]


@pytest.mark.django_db(transaction=True)
def test_a_new_order_is_found_after_a_migration_rebuilds_the_orders_table(
    api: ApiClient, throwaway_migration: None
) -> None:
    # given an order, and a deleted one before it (the rebuild numbers the rows anew)
    gone = api.post("/api/v1/orders", order_body("SHOP-GONE")).json()["id"]
    kept = api.post("/api/v1/orders", order_body("SHOP-KEPT")).json()["id"]
    Order.objects.filter(pk=gone).delete()
    # when a migration adds a field with a default to Order
    call_command("migrate", "orders", verbosity=0)
    # then a new order is found by the list search, and so is the one from before
    new = api.post("/api/v1/orders", order_body("SHOP-NEW")).json()["id"]
    assert found(api, "shop-new") == [new]
    assert found(api, "shop-kept") == [kept]
    assert sorted(found(api, "shop-")) == sorted([kept, new])


@sqlite_only
def test_migrate_makes_missing_search_objects_again_and_rebuilds_the_index(
    api: ApiClient,
) -> None:
    # given an order indexed before the FTS table and its triggers were dropped, and one
    # written while they were missing
    before = api.post("/api/v1/orders", order_body("SHOP-BEFORE")).json()["id"]
    with connection.cursor() as cursor:
        for trigger in ("insert", "update", "delete"):
            cursor.execute(f"DROP TRIGGER orders_order_search_{trigger}")
        cursor.execute("DROP TABLE orders_order_search")
    during = api.post("/api/v1/orders", order_body("SHOP-DURING")).json()["id"]
    # when `migrate` runs with nothing to migrate
    call_command("migrate", verbosity=0)
    # then the search finds both orders
    assert sorted(found(api, "shop-")) == sorted([before, during])
