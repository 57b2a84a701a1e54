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


def three_stage_flow() -> list[dict[str, Any]]:
    wait = {"handlerKey": "wait", "payload": {"durationMs": 1000}}
    check = manual_flow()[0]["taskDefinitions"][0]
    return [
        {"key": "start", "name": "Prepare", "taskDefinitions": [check]},
        {"key": "make", "name": "Make", "taskDefinitions": [
            {"key": "print", **wait, "next": [
                {"taskDefinitionKey": "polish", "trigger": "success"},
                {"taskDefinitionKey": "reprint", "trigger": "failure"}]},
            {"key": "reprint", **wait}, {"key": "polish", **wait}]},
        {"key": "ship", "name": "Ship", "taskDefinitions": [{"key": "send", **wait}]},
    ]  # fmt: skip


def graph_nodes(page: Page, scope: str) -> dict[str, str]:
    """Task key of each drawn node (its label's bold first line) to the node's classes."""
    return page.eval_on_selector_all(
        f"{scope} .flow-graph svg g.node",
        "nodes => Object.fromEntries(nodes.map(n => [n.querySelector('b').textContent,"
        " n.getAttribute('class')]))",
    )


def test_order_page_draws_a_three_stage_flow_top_to_bottom_within_the_page(
    app: Page, live_server: Any, shop: Shop
) -> None:
    # given an order whose 3-stage flow waits on the first stage's manual check
    create_flow(space=shop.space, name="three", definition=three_stage_flow())
    order = shop.order("WEB-G", flowKey="three")
    advance(str(FlowRun.objects.get(order=order).pk))
    problems: list[str] = []
    app.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    app.on(
        "request", lambda r: None if r.url.startswith(live_server.url) else problems.append(r.url)
    )
    # when the order page is opened
    app.goto(f"{live_server.url}/orders/{order.id}")
    # then mermaid draws each task as a node in its state, stage by stage down the page
    svg = app.locator(".flow-graph svg")
    expect(svg).to_be_visible()
    expect(svg.locator("g.node")).to_have_count(5)
    for key in ("check", "print", "reprint", "polish", "send"):
        expect(svg.locator("g.node b").get_by_text(key, exact=True)).to_be_visible()
    assert {key: classes.split()[-1] for key, classes in graph_nodes(app, "").items()} == {
        "check": "waiting", "print": "notstarted", "reprint": "notstarted",
        "polish": "notstarted", "send": "notstarted",
    }  # fmt: skip
    tops = [
        svg.locator("g.cluster", has_text=name).bounding_box()
        for name in ("1. Prepare", "2. Make", "3. Ship")
    ]
    assert all(box is not None for box in tops)
    assert tops[0]["y"] < tops[1]["y"] < tops[2]["y"]  # type: ignore[index]
    expect(svg.locator("g.edgeLabel", has_text="failure")).to_be_visible()
    # and it fits its card, with the summary in words beside it
    graph, card = svg.bounding_box(), app.locator(".flow-graph-wrap").bounding_box()
    assert graph is not None and card is not None and graph["width"] <= card["width"]
    expect(app.locator(".flow-graph figcaption")).to_have_text(
        "Flow with 3 stages: Prepare (1 task), Make (3 tasks), Ship (1 task)."
        " 1 waiting, 4 not started"
    )
    assert problems == []


def test_editor_redraws_the_graph_and_shows_hostile_keys_as_text(
    app: Page, live_server: Any, shop: Shop
) -> None:
    # given the editor of a one-task flow, its graph drawn
    flow = create_flow(space=shop.space, name="ring-flow", definition=manual_flow())
    app.goto(f"{live_server.url}/flows/{flow.id}")
    app.wait_for_function("() => window.fabflowEditor !== undefined")
    expect(app.locator("#graph svg g.node")).to_have_count(1)
    # when the definition becomes three stages, one task key trying to inject markup
    definition = three_stage_flow()
    hostile = '"]<img src=x onerror="document.title=1">'
    definition[2]["taskDefinitions"][0]["key"] = hostile
    set_editor(app, definition)
    # then the graph is redrawn with a node per task, the key shown as text only
    expect(app.locator("#graph svg g.node")).to_have_count(5)
    expect(app.locator("#graph figcaption")).to_contain_text("Flow with 3 stages")
    expect(app.locator("#graph svg g.node b").get_by_text(hostile, exact=True)).to_be_visible()
    assert app.locator("#graph img").count() == 0
    assert app.title() != "1"
