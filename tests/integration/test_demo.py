"""The demo: its orders in every status, its connector's contract, its flow end to end."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from fabflow.accounts.models import User
from fabflow.demo.management.commands.demo import demo_flow
from fabflow.flows.models import TaskRun
from fabflow.flows.serializers import task_json
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


def credentials(data_dir: Path) -> str:
    """The demo's secret key, as the demo wrote it."""
    return str(json.loads((data_dir / "demo-credentials.json").read_text())["secretKey"])


def demo(settings: Any, data_dir: Path) -> str:
    settings.DATA_DIR = data_dir
    out = io.StringIO()
    call_command("demo", stdout=out)
    return out.getvalue()


def test_demo_has_a_dozen_orders_in_every_status_with_their_customers(
    settings: Any, tmp_path: Path
) -> None:
    # when the demo is seeded
    demo(settings, tmp_path)
    # then a dozen orders rest in each status (the ring orders aside)
    orders = Order.objects.exclude(flow_key="ring-flow")
    statuses = Counter(orders.values_list("status", flat=True))
    assert statuses == {
        "created": 12,
        "in_progress": 12,
        "success": 12,
        "failure": 12,
        "unhealthy": 12,
    }
    # each with a deadline, a customer, an address, products with parts; most have tags
    orders = list(orders.prefetch_related("products__parts"))
    assert all(o.deadline and o.customer_info["name"] and o.addresses for o in orders)
    assert all(p.parts.all() for o in orders for p in o.products.all())
    assert sum(1 for o in orders if o.tags) >= 45
    # and the engine ran them: no flow for Created, a shipping mail for every Success
    assert not Order.objects.filter(status="created").exclude(flow_key="").exists()
    shipped = TaskRun.objects.filter(key="mail-shipped", state="succeeded")
    assert set(shipped.values_list("order__status", flat=True)) == {"success"}
    assert shipped.count() == 12


def test_demo_has_checks_waiting_for_its_user_and_timed_out_ones(
    settings: Any, tmp_path: Path
) -> None:
    demo(settings, tmp_path)
    user = User.objects.get(email="admin@example.com")
    # a check waits for a person of the demo user's tags, with a title and a description
    waiting = (
        TaskRun.objects.filter(state="waiting", timed_out=False)
        .exclude(order__flow_key="ring-flow")
        .select_related("order", "flow_run__flow_version")
    )
    assert {(r.handler_key, r.order.status) for r in waiting} == {("manual-task", "in_progress")}
    run = waiting[0]
    payload = run.flow_run.flow_version.definition[run.stage]["taskDefinitions"][0]["payload"]
    assert set(payload["assigneeTags"]) & set(user.tags)
    assert payload["description"]
    assert task_json(run)["title"] == f"Check the print of {run.order.name}"
    # and every Unhealthy order has its check past its timeout, still waiting
    unhealthy = TaskRun.objects.filter(order__status="unhealthy", key="check-print")
    assert set(unhealthy.values_list("state", "timed_out")) == {("waiting", True)}
    assert unhealthy.count() == 12


@pytest.mark.production_programs
def test_demo_ring_orders_carry_their_rendered_and_sliced_files(
    settings: Any, tmp_path: Path
) -> None:
    # when the demo is seeded on a machine with openscad and CuraEngine
    out = demo(settings, tmp_path)
    # then its ring orders were rendered and sliced: STL, preview and G-code on the band, its
    # mesh checks and print figures in the part's manufacturing data, the preview as thumbnail
    rings = Order.objects.filter(flow_key="ring-flow").order_by("third_party_order_id")
    assert [o.status for o in rings] == ["success", "success", "in_progress", "in_progress"]
    for order in rings:
        band = Part.objects.get(order=order, name="band")
        names = set(band.assets.values_list("name", flat=True))
        assert names == {"band.stl", "band.png", "band.gcode"}
        data = band.manufacturing_data
        assert data["watertight"] is True and data["printTimeS"] > 0 and data["filamentG"] > 0
        product = ApiClient(credentials(tmp_path)).get(f"/api/v1/orders/{order.pk}").json()
        assert product["products"][0]["thumbnailUrl"]
    # the fourth ring repeats the second's configuration: its render came from the cache
    generated = TaskRun.objects.filter(order__in=rings, key="generate").order_by("order__name")
    hits = {r.order.third_party_order_id: r.result["targets"][0]["cacheHit"] for r in generated}
    assert hits == {"RING-2001": False, "RING-2002": False, "RING-2003": False, "RING-2004": True}
    # the others wait for the demo user's check, and the demo says where to look
    waiting = TaskRun.objects.filter(order__in=rings, key="check-print", state="waiting")
    assert waiting.count() == 2
    assert "4 ring orders" in out


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
