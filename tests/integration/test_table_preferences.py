"""Saved column choices: what a user hid and showed stays; newer columns take their default."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from fabflow.accounts.models import TablePreference
from fabflow.accounts.services import save_hidden_columns
from tests.factories import Tenant


def _head(client: Client, page: str) -> str:
    return client.get(page).content.decode().split("<thead>", 1)[1].split("</thead>", 1)[0]


def test_a_column_added_after_the_choice_takes_its_default(member: Any, staff: Client) -> None:
    # given a choice saved when the orders table had no "current step" or "customer" column
    old_columns = ["order", "status", "value", "created", "deadline", "order_id"]
    save_hidden_columns(user=member, table="orders", hidden=["deadline"], shown=old_columns)
    # when the orders page is shown
    head = _head(staff, "/orders")
    # then the saved choice holds and the newer optional columns stay hidden, as by default
    assert 'data-column="order_id"' in head and 'data-column="deadline"' not in head
    assert 'data-column="step"' not in head and 'data-column="customer"' not in head


def test_the_column_form_records_hidden_and_shown_columns(member: Any, staff: Client) -> None:
    # when the user shows the customer column and hides the value
    visible = ["order", "status", "created", "deadline", "customer", "start"]
    response = staff.post("/tables/orders/columns", {"visible": visible, "next": "/orders"})
    # then both lists are saved, and the page shows exactly the chosen columns
    assert response.status_code == 302
    pref = TablePreference.objects.get(user=member, table="orders")
    assert "value" in pref.hidden_columns and "step" in pref.hidden_columns
    assert sorted(pref.shown_columns) == sorted(visible)
    head = _head(staff, "/orders")
    assert 'data-column="customer"' in head and 'data-column="value"' not in head


@pytest.mark.django_db(transaction=True)
def test_the_migration_keeps_an_id_column_a_user_had_shown(tenant: Tenant, member: Any) -> None:
    # given preferences saved as a hidden list only: orders with its id shown, parts default
    before = [("accounts", "0003_signing_secret_rotation_and_time_zones")]
    MigrationExecutor(connection).migrate(before)
    try:
        old = MigrationExecutor(connection).loader.project_state(before).apps
        prefs = old.get_model("accounts", "TablePreference").objects
        prefs.create(user_id=member.pk, table="orders", hidden_columns=["deadline"])
        hidden_ids = ["part_id", "product_id", "order_id"]
        prefs.create(user_id=member.pk, table="parts", hidden_columns=hidden_ids)
        # when migrating
        MigrationExecutor(connection).migrate([("accounts", "0004_table_preference_shown_columns")])
        # then the id the user had shown is recorded as shown; nothing else is
        shown = dict(TablePreference.objects.values_list("table", "shown_columns"))
        assert shown == {"orders": ["order_id"], "parts": []}
    finally:
        MigrationExecutor(connection).migrate(
            MigrationExecutor(connection).loader.graph.leaf_nodes()
        )
