"""The trigram indexes of the text search come from the models' declarations (`Meta.indexes`).

Migrations 0002 and 0006 made one pg_trgm index per searched column with hand-written SQL;
the search is now declared once per model (orders/models.py, core/search.py), and its
indexes are `TrigramIndex`es in `Meta.indexes`: one per model over its searched columns, on
the expression of `icontains` (`UPPER(column::text)`). This builds them and drops the old
ones, CONCURRENTLY (outside a transaction) so that intake keeps writing while a large table
is indexed; an index left invalid by an interrupted run is dropped and built again.

SQLite has no trigram index (TrigramIndex makes nothing there): its FTS5 tables and triggers
(made by 0005) are now kept by a post_migrate step (core/search.py, repair_fts), which makes
them again whenever a migration drops them. Their shape is unchanged: nothing to do here.
"""

from django.contrib.postgres.indexes import OpClass
from django.db import migrations, models
from django.db.models.functions import Cast, Upper

from fabflow.core.search import TrigramIndex

# The indexes of 0002 and 0006, per model (table, columns).
OLD = {
    "order": ("orders_order", ("name", "third_party_order_id", "customer_email")),
    "product": ("orders_product", ("name", "configuration_id")),
    "part": ("orders_part", ("name",)),
}


def _trigram(name: str, *columns: str) -> TrigramIndex:
    uppers = (Upper(Cast(c, output_field=models.TextField())) for c in columns)
    return TrigramIndex(*(OpClass(u, name="gin_trgm_ops") for u in uppers), name=name)


NEW = {model: _trigram(f"{model}_search", *columns) for model, (_, columns) in OLD.items()}


def _old_names(model: str) -> list[str]:
    table, columns = OLD[model]
    return [f"{table}_{column}_trgm" for column in columns]


def build(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor != "postgresql":
        return
    for model, index in NEW.items():
        schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{index.name}"')  # a broken run
        schema_editor.add_index(apps.get_model("orders", model), index, concurrently=True)
        for name in _old_names(model):
            schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')


def unbuild(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor != "postgresql":
        return
    for model, index in NEW.items():
        table, columns = OLD[model]
        for name, column in zip(_old_names(model), columns, strict=True):
            schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')
            schema_editor.execute(
                f'CREATE INDEX CONCURRENTLY "{name}" ON "{table}" '
                f'USING gin ((UPPER("{column}"::text)) gin_trgm_ops)'
            )
        schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{index.name}"')


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [("orders", "0007_order_created_covers_search")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(build, unbuild)],
            state_operations=[
                migrations.AddIndex(model_name=model, index=index) for model, index in NEW.items()
            ],
        )
    ]
