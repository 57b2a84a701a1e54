"""Migration 0009: an order names its flow by key and number instead of a foreign key."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from fabflow.demo.management.commands.demo import demo_flow
from fabflow.flows.services import create_flow
from fabflow.orders.models import Order
from tests.factories import Tenant

pytestmark = pytest.mark.django_db(transaction=True)
BEFORE = "0008_search_declared_once"
NODES = [("orders", BEFORE), ("flows", "0003_flowrun_wake_seq")]


def test_an_order_keeps_its_flow_through_0009_and_back(tenant: Tenant) -> None:
    # given an order of the schema before 0009, pointing at version 1 of a flow
    flow = create_flow(space=tenant.space, name="ring-flow", definition=demo_flow())
    call_command("migrate", "orders", BEFORE, verbosity=0)
    state = MigrationExecutor(connection).loader.project_state(NODES)
    old_order = state.apps.get_model("orders", "Order")
    version = state.apps.get_model("flows", "FlowVersion").objects.get(flow_id=flow.pk)
    pk = old_order.objects.create(
        organization_id=tenant.org.pk,
        space_id=tenant.space.pk,
        name="Ring",
        third_party_order_id="R-1",
        flow_version=version,
    ).pk
    # when migrated forward, then the order names the flow and its number
    call_command("migrate", "orders", verbosity=0)
    order = Order.objects.get(pk=pk)
    assert (order.flow_key, order.flow_version_number) == ("ring-flow", 1)
    # and back: the foreign key is found again from the names
    call_command("migrate", "orders", BEFORE, verbosity=0)
    state = MigrationExecutor(connection).loader.project_state(NODES)
    back = state.apps.get_model("orders", "Order").objects.get(pk=pk)
    assert back.flow_version_id == version.pk
    call_command("migrate", "orders", verbosity=0)
