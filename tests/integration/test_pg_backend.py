"""Django's PostgreSQL backend with our options: server-side parameters, prepared statements,
pages planned with their values (the worker: generic plans), multi-row inserts in the limits."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.db import connection, connections, transaction
from django.db.models import F
from django.db.models.expressions import RawSQL
from django.test import RequestFactory

from fabflow.accounts.models import Organization
from fabflow.core.pagination import SortKey, paginate
from fabflow.flows.engine import store
from fabflow.flows.management.commands.worker import use_generic_plans
from fabflow.orders import assets
from fabflow.orders.assets import NewAsset
from fabflow.orders.inserts import insert_rows
from fabflow.orders.models import Asset, Order, Part
from tests.factories import ApiClient, Tenant, order_body

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL's options"
)

# PostgreSQL takes at most 65,535 parameters per statement when they are sent apart from the
# SQL (server-side binding): a part has 9 columns, so 7,282 parts are more than one INSERT.
MANY = 7_500


def test_more_rows_than_one_insert_takes_are_stored_whole(api: ApiClient) -> None:
    # given an order (the API caps an order's parts; the inserts must not depend on that cap)
    order = Order.objects.get(pk=api.post("/api/v1/orders", order_body()).json()["id"])
    product = order.products.first()
    parts = [
        Part(organization_id=order.organization_id, order=order, product=product, name=f"p{i}")
        for i in range(MANY)
    ]
    urls = [NewAsset(f"a{i}.stl", Asset.Source.URL, url="https://x.test/a") for i in range(MANY)]
    # when that many parts and URL assets are written with intake's multi-row insert
    with transaction.atomic():
        insert_rows(parts)
        assets.create_assets(order=order, new=urls)
    # then every one is stored
    assert Part.objects.filter(order=order).count() == MANY + 4
    assert Asset.objects.filter(order=order, state=Asset.State.PENDING).count() == MANY


@postgresql_only
def test_repeated_statements_are_prepared_with_server_side_parameters(db: None) -> None:
    # given a connection made with the settings' options
    connection.ensure_connection()
    assert connection.connection.prepare_threshold == 1
    # when one of the store's statements runs twice
    for _ in range(2):
        store.inbox_of([0])
    # then the server holds it as a prepared statement with parameters ($1), so it is parsed
    # and planned once per connection
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [statement for (statement,) in cursor.fetchall()]
    assert any('FROM "flows_flowinbox" t WHERE' in s and "$1" in s for s in prepared)


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_pages_plan_with_their_values_and_the_worker_reuses_generic_plans(tenant: Tenant) -> None:
    # given a list whose rows report how the server plans the statement reading them
    rows = Organization.objects.annotate(plans=RawSQL("current_setting('plan_cache_mode')", ()))
    keys = {"createdAt": SortKey(F("created_at"), datetime)}

    def page_plans() -> set[str]:
        request = RequestFactory().get("/x")
        page, _ = paginate(request, rows, keys=keys, ordering="createdAt", limit=5, cursor=None)
        return {org.plans for org in page}

    # when a web process reads a page, then its statement is planned with its values (a
    # prepared statement's generic plan scanned a date range's every row)
    assert page_plans() == {"force_custom_plan"}
    # and once `fabflow worker` set up its process, its connections reuse generic plans
    options = connections.settings["default"]["OPTIONS"]
    web = options["options"]
    try:
        use_generic_plans()
        assert page_plans() == {"auto"}
    finally:
        options["options"] = web
        connections.close_all()
