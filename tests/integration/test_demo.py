"""The demo: its connector follows the contract, and the seeded flow runs end to end."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command

from fabflow.flows.management.commands.demo import demo_flow
from fabflow.flows.models import TaskRun
from fabflow.flows.services import create_flow
from fabflow.orders.models import Order, Part
from tests.factories import ApiClient, make_tenant, order_body

pytestmark = pytest.mark.django_db(transaction=True)


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


def test_demo_flow_runs_to_the_manual_check_and_on_to_shipping(demo_settings: Any) -> None:
    # given the demo flow and an order with files
    tenant = make_tenant("Demo", "demo-space")
    create_flow(space=tenant.space, name="standard-flow", definition=demo_flow())
    api = ApiClient(tenant.secret)
    body = order_body(
        flowKey="standard-flow",
        products=[
            {
                "name": "Ring",
                "parts": [
                    {"name": "band", "assets": [{"name": "band.stl", "contentBase64": "c29saWQ="}]}
                ],
            }
        ],
    )
    order = Order.objects.get(pk=api.post("/api/v1/orders", body).json()["id"])
    # when the workers run (the demo connector answers through the real feedback endpoint)
    work()
    # then the connector's feedback ended the print task and filled manufacturing data
    assert TaskRun.objects.get(order=order, key="print").state == "succeeded"
    assert Part.objects.get(order=order).manufacturing_data == {
        "printTimeS": 1161,
        "filamentG": 4.2,
    }
    check = TaskRun.objects.get(order=order, key="check-print")
    assert check.state == "waiting"
    # and approving the check moves the order to shipping
    assert api.post(f"/api/v1/tasks/{check.id}/complete", {"outcome": "approve"}).status_code == 202
    work()
    assert TaskRun.objects.get(order=order, key="cool-down").state == "waiting"


def test_demo_connector_refuses_unsigned_calls(demo_settings: Any) -> None:
    tenant = make_tenant("Demo2", "demo-space-2")
    order_id = ApiClient(tenant.secret).post("/api/v1/orders", order_body()).json()["id"]
    response = ApiClient(None).post(
        "/demo/connector", {"order": {"id": order_id}, "feedbackUrl": "http://x/"}
    )
    assert response.status_code == 400


def test_demo_connector_is_off_by_default(db: None) -> None:
    assert ApiClient(None).post("/demo/connector", {}).status_code == 404
