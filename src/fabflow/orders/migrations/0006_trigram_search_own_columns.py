"""Trigram indexes for the rest of the searched columns on PostgreSQL (0002 has the names of
orders and products).

The search (orders/search.py) first lists the rows of each searched table that contain the term
(up to PG_LIST_MAX ids) and passes the ids of a rare term as a list, which PostgreSQL reads by
primary and foreign key. That needs every searched column of a table indexed: a column without
one makes it read the whole table to find out. Before this, a part search for an order number
tested every part of the list (~0.2 s at 200,000 orders).

Built CONCURRENTLY (outside a transaction) so that intake keeps writing while a large table is
indexed; an index left invalid by an interrupted build is dropped and built again. SQLite has
its FTS5 tables (0005): nothing to do there. Each GIN index costs intake time (see
docs/operations.md, "Page speed").
"""

from django.db import migrations

# Keep in step with orders/search.py (PG_TRIGRAM_INDEXED).
SEARCHED = {
    "orders_order": ("third_party_order_id", "customer_email"),
    "orders_product": ("configuration_id",),
    "orders_part": ("name",),
}


def _indexes() -> list[tuple[str, str, str]]:
    return [
        (f"{table}_{column}_trgm", table, column)
        for table, columns in SEARCHED.items()
        for column in columns
    ]


def create(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, table, column in _indexes():
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(
                "SELECT NOT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE c.relname = %s",
                [name],
            )
            row = cursor.fetchone()
        if row and row[0]:
            schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')
        schema_editor.execute(
            f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{name}" ON "{table}" '
            f'USING gin ((UPPER("{column}"::text)) gin_trgm_ops)'
        )


def drop(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _table, _column in _indexes():
        schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [("orders", "0005_sqlite_text_search")]

    operations = [migrations.RunPython(create, drop)]
