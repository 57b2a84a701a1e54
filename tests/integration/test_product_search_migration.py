"""Migration 0010: products get a deadline and a search that looks into the configuration."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection

from fabflow.orders.filters import ProductFilter
from fabflow.orders.models import Product
from tests.factories import ApiClient, order_body

pytestmark = pytest.mark.django_db(transaction=True)
BEFORE = "0009_order_flow_by_name"


def test_products_of_old_main_are_found_by_their_configuration_after_0010(
    api: ApiClient,
) -> None:
    # given the schema of old main, with a product whose configuration was stored as Django
    # stores JSON by default (non-ASCII characters escaped on SQLite)
    body = order_body()
    body["products"][0]["configuration"] = {"material": "Weißgold"}
    assert api.post("/api/v1/orders", body).status_code == 201
    call_command("migrate", "orders", BEFORE, verbosity=0)
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE orders_product SET configuration = %s WHERE name = 'Ring 0'",
                ['{"material": "Wei\\u00dfgold"}'],
            )
    # when it is migrated
    call_command("migrate", "orders", verbosity=0)
    # then the search finds the product by its configuration, which reads as it was given
    found = ProductFilter(q="Weißgold").apply(Product.objects.all())
    assert [(p.name, p.configuration) for p in found] == [("Ring 0", {"material": "Weißgold"})]
    assert [p.deadline for p in Product.objects.all()] == [None, None]
