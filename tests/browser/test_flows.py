"""Flows in a real browser: the editor with live validation, and completing a manual task."""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from fabflow.flows.engine.runner import advance
from fabflow.flows.models import Flow, FlowRun, FlowVersion, TaskRun
from fabflow.flows.services import create_flow
from tests.browser.conftest import Shop

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def manual_flow(handler: str = "manual-task") -> list[dict[str, Any]]:
    task = {
        "key": "check",
        "handlerKey": handler,
        "payload": {"title": "Check the files", "outcomes": ["approve", "reject"]},
    }
    return [{"key": "start", "name": "Start", "taskDefinitions": [task]}]


def set_editor(page: Page, definition: Any) -> None:
    page.evaluate("text => window.fabflowEditor.setValue(text, -1)", json.dumps(definition))


def test_create_a_flow_then_save_an_invalid_and_a_fixed_version(
    app: Page, live_server: Any, shop: Shop
) -> None:
    # given the flows page
    app.goto(f"{live_server.url}/flows")
    # when a flow is created through the dialog
    app.click("button:has-text('+ New flow')")
    expect(app.locator("#create-flow")).to_be_visible()
    app.fill("#flow-name", "ring-flow")
    app.select_option("#flow-space", "acme-rings")
    with app.expect_navigation():
        app.click("#create-flow button[type=submit]")
    # then the editor opens on version 1
    flow = Flow.objects.get()
    assert (flow.name, flow.space, flow.current_version) == ("ring-flow", shop.space, 1)
    assert app.url == f"{live_server.url}/flows/{flow.id}"
    expect(app.locator("h1")).to_contain_text("version 1")
    app.wait_for_function("() => window.fabflowEditor !== undefined")
    expect(app.locator("#valid-badge")).to_have_text("valid")
    # when the definition gets an unknown handler
    set_editor(app, manual_flow("no-such-handler"))
    # then the live validation lists the error with its path, and the graph is drawn
    error = app.locator("#errors li")
    expect(error).to_have_count(1)
    expect(error.locator("code")).to_have_text("[0].taskDefinitions[0].handlerKey")
    expect(error).to_contain_text("unknown handler 'no-such-handler'")
    expect(app.locator("#valid-badge")).to_have_text("1 error")
    expect(app.locator("#graph svg")).to_have_count(1)
    # when it is saved anyway
    with app.expect_navigation() as nav:
        app.click("#save-flow")
    # then the page answers 422 with the error, and no version is stored
    response = nav.value
    assert response is not None and response.status == 422
    expect(app.locator("#errors li code")).to_have_text("[0].taskDefinitions[0].handlerKey")
    expect(app.locator("h1")).to_contain_text("version 1")
    flow.refresh_from_db()
    assert flow.current_version == 1
    assert FlowVersion.objects.filter(flow=flow).count() == 1
    # when the error is fixed and saved
    app.wait_for_function("() => window.fabflowEditor !== undefined")
    set_editor(app, manual_flow())
    expect(app.locator("#errors li")).to_have_count(0)
    expect(app.locator("#valid-badge")).to_have_text("valid")
    with app.expect_navigation():
        app.click("#save-flow")
    # then version 2 is stored and shown
    expect(app.locator("h1")).to_contain_text("version 2")
    flow.refresh_from_db()
    assert flow.current_version == 2
    assert FlowVersion.objects.get(flow=flow, number=2).definition == manual_flow()
    expect(app.locator(".alert-success")).to_contain_text("Saved version")


def test_complete_a_manual_task(app: Page, live_server: Any, shop: Shop) -> None:
    # given an order waiting on a manual check
    create_flow(space=shop.space, name="check-flow", definition=manual_flow())
    order = shop.order("WEB-M", flowKey="check-flow")
    flow_run = FlowRun.objects.get(order=order)
    advance(str(flow_run.pk))
    task = TaskRun.objects.get(order=order, key="check")
    assert task.state == "waiting"
    # when staff approve it on the order page with a comment
    app.goto(f"{live_server.url}/orders/{order.id}")
    item = app.locator("[data-task=check]")
    expect(item.locator(".badge")).to_have_text("waiting")
    expect(item.locator("button[name=outcome]")).to_have_text(["Approve", "Reject"])
    item.locator("input[name=comment]").fill("files look good")
    with app.expect_navigation():
        item.locator("button:has-text('Approve')").click()
    # then the page confirms it
    expect(app.locator(".alert-success")).to_have_text("Task check completed.")
    # and once the engine has run, the task succeeded with the outcome and the comment
    advance(str(flow_run.pk))
    task.refresh_from_db()
    order.refresh_from_db()
    assert task.state == "succeeded"
    assert task.result == {"outcome": "approve", "comment": "files look good"}
    assert order.status == "success"
    app.reload()
    expect(item.locator(".badge")).to_have_text("succeeded")
    expect(item).to_contain_text("Outcome: approve — files look good")
    expect(item.locator("form")).to_have_count(0)


def test_saving_a_version_reports_its_number(app: Page, live_server: Any, shop: Shop) -> None:
    # given a flow at version 1 in the editor
    flow = create_flow(space=shop.space, name="ring-flow", definition=manual_flow())
    app.goto(f"{live_server.url}/flows/{flow.id}")
    expect(app.locator("h1")).to_contain_text("version 1")
    # when it is saved unchanged
    with app.expect_navigation():
        app.click("#save-flow")
    # then version 2 is stored, and the message names it
    expect(app.locator("h1")).to_contain_text("version 2")
    expect(app.locator(".alert-success")).to_have_text("Saved version 2.", timeout=1000)
