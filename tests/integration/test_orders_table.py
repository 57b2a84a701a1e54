"""The orders table's optional columns (current step, customer) and its Start button."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest
from django.test import Client

from fabflow.accounts.services import save_hidden_columns
from fabflow.flows.engine.runner import advance
from fabflow.flows.models import FlowRun, TaskRun
from fabflow.flows.services import create_flow
from fabflow.orders.models import Order
from tests.factories import ApiClient, Tenant, order_body

pytestmark = pytest.mark.django_db(transaction=True)
STEP = "\u203a"  # between a stage and its tasks


def _manual(key: str) -> dict[str, Any]:
    return {"key": key, "handlerKey": "manual-task", "payload": {"title": key}}


# One stage of two manual tasks that wait for a person.
CONFIRM = [
    {"key": "confirm", "name": "Confirm", "taskDefinitions": [_manual("task-1"), _manual("task-2")]}
]


def _order(api: ApiClient, tpo: str, **body: Any) -> Order:
    response = api.post("/api/v1/orders", order_body(tpo, **body))
    assert response.status_code == 201, response.content
    return Order.objects.get(pk=response.json()["id"])


def _cells(html: str, column: str) -> list[str]:
    """The contents of a column's cells, top to bottom."""
    return re.findall(f'<td class="[a-z]+" data-column="{column}">(.*?)</td>', html, re.DOTALL)


def test_current_step_and_customer_are_hidden_by_default(api: ApiClient, staff: Client) -> None:
    _order(api, "WEB-1")
    html = staff.get("/orders").content.decode()
    assert 'data-column="status"' in html
    assert 'data-column="step"' not in html
    assert 'data-column="customer"' not in html
    # and the column menu offers them
    assert 'value="step" id="col-step" data-column-toggle>' in html
    assert 'value="customer" id="col-customer" data-column-toggle>' in html


def test_toggled_on_they_show_where_the_flow_is_and_the_customer(
    api: ApiClient, tenant: Tenant, staff: Client
) -> None:
    # given an order mid-flow (task-1 of stage Confirm done, task-2 waiting) and one without
    create_flow(space=tenant.space, name="confirm-flow", definition=CONFIRM)
    running = _order(api, "WEB-1", flowKey="confirm-flow")
    advance(str(FlowRun.objects.get(order=running).pk))
    task_1 = TaskRun.objects.get(order=running, key="task-1")
    assert api.post(f"/api/v1/tasks/{task_1.id}/complete", {}).status_code == 202
    advance(str(FlowRun.objects.get(order=running).pk))
    idle = _order(api, "WEB-2", customerInfo={}, customerEmail="bo@example.com")
    # when a member shows every column (as the column menu's form does)
    response = staff.post(
        "/tables/orders/columns", {"visible": ["order", "step", "customer"], "next": "/orders"}
    )
    assert response.status_code == 302
    html = staff.get("/orders?ordering=name").content.decode()
    # then the step is the stage and its open task, the customer is name and e-mail
    assert _cells(html, "order") == [
        f'<a href="/orders/{running.id}">WEB-1</a>',
        f'<a href="/orders/{idle.id}">WEB-2</a>',
    ]
    assert _cells(html, "step") == [f"Confirm {STEP} task-2", ""]
    assert _cells(html, "customer") == ["Ann · ann@example.com", "bo@example.com"]


def test_the_csv_export_has_the_visible_new_columns_not_the_start_button(
    api: ApiClient, tenant: Tenant, member: Any, staff: Client
) -> None:
    create_flow(space=tenant.space, name="confirm-flow", definition=CONFIRM)
    order = _order(api, "WEB-1", flowKey="confirm-flow")
    advance(str(FlowRun.objects.get(order=order).pk))
    shown = ["step", "customer", "order_id"]
    save_hidden_columns(
        user=member, table="orders", hidden=["value", "created", "deadline"], shown=shown
    )
    response = staff.post("/export/orders.csv", {"ids": [str(order.id)]})
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows == [
        ["Order", "Status", "Current step", "Customer", "Order ID"],
        [
            "WEB-1",
            "In progress",
            f"Confirm {STEP} task-1, task-2",
            "Ann · ann@example.com",
            str(order.id),
        ],
    ]


def test_the_start_button_is_offered_only_for_orders_in_created(
    api: ApiClient, tenant: Tenant, staff: Client
) -> None:
    # given two flows of the space, an order in Created and one whose flow runs
    create_flow(space=tenant.space, name="confirm-flow", definition=CONFIRM)
    create_flow(space=tenant.space, name="other-flow", definition=CONFIRM)
    created = _order(api, "WEB-1")
    running = _order(api, "WEB-2", flowKey="confirm-flow")
    advance(str(FlowRun.objects.get(order=running).pk))
    html = staff.get("/orders?ordering=name").content.decode()
    start_cells = _cells(html, "start")
    action = f'formaction="/orders/{created.id}/start" name="flow"'
    assert f'{action} value="confirm-flow">confirm-flow</button>' in start_cells[0]
    assert f'{action} value="other-flow">other-flow</button>' in start_cells[0]
    assert start_cells[1] == ""


def test_starting_a_flow_from_the_table_runs_it(
    api: ApiClient, tenant: Tenant, staff: Client
) -> None:
    create_flow(space=tenant.space, name="confirm-flow", definition=CONFIRM)
    order = _order(api, "WEB-1")
    response = staff.post(f"/orders/{order.id}/start", {"flow": "confirm-flow"})
    assert response.status_code == 302
    assert response["Location"] == f"/orders/{order.id}"
    run = FlowRun.objects.get(order=order)
    assert (run.flow_version.flow.name, run.flow_version.number) == ("confirm-flow", 1)
    order.refresh_from_db()
    assert (order.flow_key, order.flow_version_number) == ("confirm-flow", 1)


def test_starting_is_scoped_to_the_organization(
    api: ApiClient, other_tenant: Tenant, staff: Client
) -> None:
    # given an order of another organization, and a flow only that organization has
    create_flow(space=other_tenant.space, name="their-flow", definition=CONFIRM)
    theirs = _order(ApiClient(other_tenant.secret), "THEIRS-1")
    ours = _order(api, "WEB-1")
    # then a member can start neither their order nor ours with their flow
    assert staff.post(f"/orders/{theirs.id}/start", {"flow": "their-flow"}).status_code == 404
    response = staff.post(f"/orders/{ours.id}/start", {"flow": "their-flow"}, follow=True)
    assert "has no active flow &#x27;their-flow&#x27;" in response.content.decode()
    assert not FlowRun.objects.exists()
