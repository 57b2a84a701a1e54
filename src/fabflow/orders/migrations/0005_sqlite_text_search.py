"""FTS5 trigram indexes for the text search of orders, products and parts on SQLite.

SQLite runs `icontains` as `LIKE '%…%'`, which no ordinary index serves: a rare term read every
row of a list (a part search for an order number: ~0.7 s at 200,000 orders). An FTS5 table with
the trigram tokenizer finds the rows containing a string of 3 or more characters; the search
(orders/search.py) asks it for candidates and still checks each with `icontains`.

Each FTS table is "external content": it stores only the index and names rows by the rowid of
the searched table, kept in step by triggers. VACUUM and `.backup` keep rowids. A table that
is rebuilt breaks this: Django remakes a table on SQLite for many schema changes, dropping its
triggers and renumbering its rows (tests/integration/test_list_filters.py then fails), so such
a migration must run `drop()` and `create()` of this one after it; a `.dump` restored without
`--preserve-rowids` needs `INSERT INTO <table>_search(<table>_search) VALUES ('rebuild')`.
PostgreSQL keeps its pg_trgm indexes (0002): this migration does nothing there.
"""

from django.db import migrations

# The searched table, its FTS table and the searched columns (see orders/search.py).
SEARCHED = {
    "orders_order": ("name", "third_party_order_id", "customer_email"),
    "orders_product": ("name", "configuration_id"),
    "orders_part": ("name",),
}


def _statements(table: str, columns: tuple[str, ...]) -> list[str]:
    fts = f"{table}_search"
    cols = ", ".join(columns)
    new = ", ".join(f"new.{c}" for c in columns)
    old = ", ".join(f"old.{c}" for c in columns)
    changed = " OR ".join(f"old.{c} IS NOT new.{c}" for c in columns)
    delete = f"INSERT INTO {fts}({fts}, rowid, {cols}) VALUES ('delete', old.rowid, {old});"
    insert = f"INSERT INTO {fts}(rowid, {cols}) VALUES (new.rowid, {new});"
    return [
        # columnsize=0: no per-row token counts (they only serve ranking, which we don't use).
        f"CREATE VIRTUAL TABLE {fts} USING fts5({cols}, content='{table}', "
        "tokenize='trigram', columnsize=0)",
        f"CREATE TRIGGER {fts}_insert AFTER INSERT ON {table} BEGIN {insert} END",
        f"CREATE TRIGGER {fts}_delete AFTER DELETE ON {table} BEGIN {delete} END",
        # Only when a searched column changes: orders are saved often (status), renamed rarely.
        f"CREATE TRIGGER {fts}_update AFTER UPDATE ON {table} WHEN {changed} "
        f"BEGIN {delete} {insert} END",
        f"INSERT INTO {fts}({fts}) VALUES ('rebuild')",
    ]


def create(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor != "sqlite":
        return
    for table, columns in SEARCHED.items():
        for statement in _statements(table, columns):
            schema_editor.execute(statement)


def drop(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor != "sqlite":
        return
    for table in SEARCHED:
        for trigger in ("insert", "delete", "update"):
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_search_{trigger}")
        schema_editor.execute(f"DROP TABLE IF EXISTS {table}_search")


class Migration(migrations.Migration):
    dependencies = [("orders", "0004_order_created_covers_deadline")]

    operations = [migrations.RunPython(create, drop)]
