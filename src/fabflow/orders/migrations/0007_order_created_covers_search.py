"""order_org_created also carries the searched columns of orders (PostgreSQL INCLUDE).

A search whose term is common in some columns (orders/search.py, _pg_own) walks this index and
tests those columns on each order walked; with them in the index the walk is index-only
(once VACUUM has run) instead of reading a table row per order. SQLite ignores INCLUDE: its
index stays as 0004 made it.

Rebuilt CONCURRENTLY (outside a transaction) under a new name, then swapped in, so that intake
keeps writing while the orders are indexed; an index left invalid by an interrupted build is
dropped and built again.
"""

from django.db import migrations, models

TABLE = "orders_order"
NAME = "order_org_created"
BUILDING = "order_org_created_new"
KEY = '"organization_id", "created_at" DESC, "id" DESC, "deadline"'
SEARCHED = '"name", "third_party_order_id", "customer_email"'


def _rebuild(schema_editor, include: str) -> None:  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{BUILDING}"')  # an interrupted run
    schema_editor.execute(f'CREATE INDEX CONCURRENTLY "{BUILDING}" ON "{TABLE}" ({KEY}){include}')
    schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{NAME}"')
    schema_editor.execute(f'ALTER INDEX "{BUILDING}" RENAME TO "{NAME}"')


def cover(apps, schema_editor):  # type: ignore[no-untyped-def]
    _rebuild(schema_editor, f" INCLUDE ({SEARCHED})")


def uncover(apps, schema_editor):  # type: ignore[no-untyped-def]
    _rebuild(schema_editor, "")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [("orders", "0006_trigram_search_own_columns")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(cover, uncover)],
            state_operations=[
                migrations.RemoveIndex(model_name="order", name=NAME),
                migrations.AddIndex(
                    model_name="order",
                    index=models.Index(
                        fields=["organization", "-created_at", "-id", "deadline"],
                        name=NAME,
                        include=["name", "third_party_order_id", "customer_email"],
                    ),
                ),
            ],
        )
    ]
