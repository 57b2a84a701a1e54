"""The demo's Site Flow variant: the in-app stand-in checks signatures, fetches the files and
posts back `shipped` through the real postback address."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from django.core.management import call_command

from fabflow.connectors.siteflow.demo import seed_demo
from fabflow.flows.models import TaskRun
from fabflow.orders.models import Order, OrderEvent
from tests.factories import ApiClient, make_tenant, order_body

pytestmark = pytest.mark.django_db(transaction=True)
ADDRESS = {
    "addressType": "shipping",
    "data": {
        "name": "Ann",
        "street": "Rue Haute 12",
        "postalCode": "1000",
        "city": "Brussels",
        "country": "BE",
    },
}


@pytest.fixture
def demo_settings(settings: Any, live_server: Any) -> Any:
    settings.BASE_URL = live_server.url
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1", "localhost"]
    settings.FABFLOW_DEMO_CONNECTOR = True
    settings.FABFLOW_DEMO_CONNECTOR_DELAY = 0
    return settings


def work() -> None:
    for _ in range(4):
        call_command("worker", batch=True, verbosity=0)


def test_the_siteflow_demo_flow_ships_an_order(demo_settings: Any) -> None:
    # given the demo's connection and siteflow-flow, and an order with an STL per product
    tenant = make_tenant("Demo", "demo-space")
    seed_demo(tenant.space)
    stl = base64.b64encode(b"solid band\nendsolid band\n").decode()
    body = order_body(flowKey="siteflow-flow", addresses=[ADDRESS])
    for product in body["products"]:
        product["parts"][0]["assets"] = [{"name": "band.stl", "contentBase64": stl}]
    order = Order.objects.get(pk=ApiClient(tenant.secret).post("/api/v1/orders", body).json()["id"])
    # when the workers run (the stand-in answers, fetches the files and posts back)
    work()
    # then the postbacks moved the task to success and the order is done
    run = TaskRun.objects.get(order=order, key="siteflow")
    assert run.state == "succeeded", run.reason
    assert run.result["status"] == "shipped"
    order.refresh_from_db()
    assert order.status == "success"
    messages = OrderEvent.objects.filter(order=order, kind="connector.feedback")
    assert list(messages.values_list("message", flat=True).order_by("created_at", "id")) == [
        "Partner update for siteflow: printready",
        "Partner update for siteflow: shipped",
    ]


def test_the_stand_in_refuses_unsigned_calls_and_is_off_by_default(
    demo_settings: Any, settings: Any
) -> None:
    assert ApiClient(None).post("/demo/siteflow/api/order", {}).status_code == 401
    settings.FABFLOW_DEMO_CONNECTOR = False
    assert ApiClient(None).post("/demo/siteflow/api/order", {}).status_code == 404


def test_the_demo_sends_orders_to_the_stand_in_when_the_demo_connector_is_on(
    demo_settings: Any, tmp_path: Any
) -> None:
    # when the demo is seeded with the demo connector on (as `make run` does)
    demo_settings.DATA_DIR = tmp_path
    call_command("demo", stdout=io.StringIO())
    # then three of its orders were handed to the Site Flow stand-in, and its postbacks ship them
    orders = Order.objects.filter(flow_key="siteflow-flow")
    assert orders.count() == 3
    work()
    runs = TaskRun.objects.filter(order__in=orders, key="siteflow")
    assert {(r.state, r.result.get("status")) for r in runs} == {("succeeded", "shipped")}
    assert set(orders.values_list("status", flat=True)) == {"success"}
