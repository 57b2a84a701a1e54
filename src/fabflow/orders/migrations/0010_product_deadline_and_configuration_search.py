"""A product's own deadline; the products' text search also looks into the configuration.

On PostgreSQL the trigram index `product_search` gets the configuration's JSON text: the new
index is built CONCURRENTLY under another name (intake keeps writing meanwhile), then replaces
the old one. On SQLite, the post_migrate step (core/search.py, repair_fts) remakes the FTS table
with the new column; configurations stored with escaped non-ASCII characters (`\\u00df`) are
written again as they are, so that the search finds them.
"""

import json

from django.contrib.postgres.indexes import OpClass
from django.db import migrations, models
from django.db.models.functions import Cast, Upper

import fabflow.orders.models
from fabflow.core.search import TrigramIndex

OLD = ("name", "configuration_id")
NEW = ("name", "configuration_id", "configuration")


def _trigram(name: str, columns: tuple[str, ...]) -> TrigramIndex:
    uppers = (Upper(Cast(c, output_field=models.TextField())) for c in columns)
    return TrigramIndex(*(OpClass(u, name="gin_trgm_ops") for u in uppers), name=name)


def _replace(columns: tuple[str, ...]):  # type: ignore[no-untyped-def]
    def run(apps, schema_editor):  # type: ignore[no-untyped-def]
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute('DROP INDEX CONCURRENTLY IF EXISTS "product_search_new"')
        model = apps.get_model("orders", "Product")
        schema_editor.add_index(model, _trigram("product_search_new", columns), concurrently=True)
        schema_editor.execute('DROP INDEX CONCURRENTLY IF EXISTS "product_search"')
        schema_editor.execute('ALTER INDEX "product_search_new" RENAME TO "product_search"')

    return run


def unescape(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor != "sqlite":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, configuration FROM orders_product WHERE instr(configuration, '\\u') > 0"
        )
        rows = [
            (json.dumps(json.loads(text), ensure_ascii=False), pk) for pk, text in cursor.fetchall()
        ]
        cursor.executemany("UPDATE orders_product SET configuration = %s WHERE id = %s", rows)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [("orders", "0009_order_flow_by_name")]

    operations = [
        migrations.AddField(
            model_name="product",
            name="deadline",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="product",
            name="configuration",
            field=models.JSONField(
                blank=True, default=dict, encoder=fabflow.orders.models.UnescapedJSON
            ),
        ),
        migrations.RunPython(unescape, migrations.RunPython.noop),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(_replace(NEW), _replace(OLD))],
            state_operations=[
                migrations.RemoveIndex(model_name="product", name="product_search"),
                migrations.AddIndex(model_name="product", index=_trigram("product_search", NEW)),
            ],
        ),
    ]
