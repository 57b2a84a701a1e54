"""Trigram indexes for the text search of orders, products and parts on PostgreSQL.

The search (`q`) is `icontains`, which PostgreSQL runs as `UPPER(col::text) LIKE UPPER('%…%')`:
without an index every search reads whole tables. A pg_trgm GIN index on exactly that
expression turns it into an index scan. SQLite keeps its LIKE scans (no such index there).
"""

from django.db import migrations

# Only the names that searches look up in *other* tables (parts and products match their
# order's or product's name through a subquery). A list page's own columns are filtered while
# it walks a covering sort index (see orders/models.py), which needs no trigram index. Each
# GIN index costs intake time (about 3% per index, measured with bench/intake.py).
SEARCHED = {
    "orders_order": ("name",),
    "orders_product": ("name",),
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
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" '
            f'USING gin ((UPPER("{column}"::text)) gin_trgm_ops)'
        )


def drop(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _table, _column in _indexes():
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):
    dependencies = [("orders", "0001_initial")]

    operations = [migrations.RunPython(create, drop)]
