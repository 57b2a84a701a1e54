"""The search's trigram indexes: declared in the models, made on PostgreSQL only, moved by 0008."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from fabflow.orders.models import Order, Part, Product
from tests.factories import ApiClient, Tenant, order_body

sqlite_only = pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's schema")
postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the pg_trgm search indexes are PostgreSQL's"
)
BEFORE = "0007_order_created_covers_search"
OLD_INDEXES = {
    "orders_order_name_trgm",
    "orders_order_third_party_order_id_trgm",
    "orders_order_customer_email_trgm",
    "orders_product_name_trgm",
    "orders_product_configuration_id_trgm",
    "orders_part_name_trgm",
}
NEW_INDEXES = {"order_search", "product_search", "part_search"}


def trigram_indexes() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE indexdef LIKE '%%gin_trgm_ops%%'"
        )
        return dict(cursor.fetchall())


def test_the_models_need_no_new_migration(db: None) -> None:
    # raises SystemExit(1) if the models' indexes differ from what the migrations made
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_the_trigram_indexes_make_nothing_on_sqlite() -> None:
    def objects() -> set[str]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT name FROM sqlite_master")
            return {row[0] for row in cursor.fetchall()}

    # when the indexes are added and removed as a migration would
    made = objects()
    with connection.schema_editor() as editor:
        for model in (Order, Product, Part):
            editor.add_index(model, model.search.indexes[0])
            assert objects() == made
            editor.remove_index(model, model.search.indexes[0])
    # then their SQL is a comment, and the schema is unchanged
    assert objects() == made and "order_search" not in made
    sql = connection.schema_editor(collect_sql=True)
    sql.add_index(Order, Order.search.indexes[0])
    assert sql.collected_sql == ["-- order_search: a PostgreSQL index;"]


@postgresql_only
def test_each_searched_model_has_one_trigram_index_over_its_own_columns(db: None) -> None:
    indexes = trigram_indexes()
    assert set(indexes) == NEW_INDEXES
    for model in (Order, Product, Part):
        definition = indexes[f"{model._meta.model_name}_search"]
        columns = [f"upper(({column})::text) gin_trgm_ops" for column in model.search.own]
        assert definition.endswith(f" USING gin ({', '.join(columns)})"), definition


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_0008_replaces_the_hand_written_trigram_indexes_and_back() -> None:
    # given the database of old main (before 0008)
    call_command("migrate", "orders", BEFORE, verbosity=0)
    assert set(trigram_indexes()) == OLD_INDEXES
    # when it is migrated, then the declared indexes replace them
    call_command("migrate", "orders", verbosity=0)
    assert set(trigram_indexes()) == NEW_INDEXES


@pytest.mark.django_db(transaction=True)
def test_an_order_is_found_after_migrating_back_before_0008_and_forward(
    api: ApiClient, tenant: Tenant
) -> None:
    # given the orders migrated back to old main's last migration, and an order written
    # then (by that schema's model: today's has columns that schema lacks)
    call_command("migrate", "orders", BEFORE, verbosity=0)
    state = MigrationExecutor(connection).loader.project_state(("orders", BEFORE))
    old_order = state.apps.get_model("orders", "Order")
    before = str(
        old_order.objects.create(
            organization_id=tenant.org.pk,
            space_id=tenant.space.pk,
            name="Web order SHOP-BEFORE",
            third_party_order_id="SHOP-BEFORE",
        ).pk
    )
    # and forward again, then orders written before and after are found
    call_command("migrate", "orders", verbosity=0)
    after = api.post("/api/v1/orders", order_body("SHOP-AFTER")).json()["id"]
    response = api.get("/api/v1/orders", q="shop-")
    assert sorted(o["id"] for o in response.json()["items"]) == sorted([before, after])
