"""The Tasks page in a real browser: the sidebar count, the for-my-tags filter, and
completing a task from the list (htmx, CSRF)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from fabflow.flows.engine.runner import advance
from fabflow.flows.models import FlowRun, TaskRun
from fabflow.flows.services import create_flow
from tests.browser.conftest import Shop

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def check(key: str, tags: list[str]) -> dict[str, Any]:
    payload = {
        "title": f"Check {key}",
        "description": "Compare the STL with the photo.",
        "assigneeTags": tags,
        "outcomes": ["approve", "reject"],
    }
    return {"key": key, "handlerKey": "manual-task", "payload": payload}


def test_complete_a_task_from_the_tasks_page(app: Page, live_server: Any, shop: Shop) -> None:
    # given an order waiting on two checks: one for the admin's tag (vip), one for ops
    stage = {
        "key": "s",
        "name": "S",
        "taskDefinitions": [check("vip", ["vip"]), check("ops", ["ops"])],
    }
    create_flow(space=shop.space, name="check-flow", definition=[stage])
    order = shop.order("WEB-T", flowKey="check-flow")
    flow_run = FlowRun.objects.get(order=order)
    advance(str(flow_run.pk))
    # when the admin opens the Tasks page from the sidebar, which counts both
    app.reload()
    link = app.locator("#sidebar a.nav-link:has-text('Tasks')")
    expect(link.locator(".badge")).to_have_text("2")
    with app.expect_navigation():
        link.click()
    assert app.url == f"{live_server.url}/tasks"
    expect(app.locator("#tasks [data-task]")).to_have_count(2)
    # and filters for their tags
    with app.expect_navigation():
        app.click("a:has-text('For my tags')")
    rows = app.locator("#tasks [data-task]")
    expect(rows).to_have_count(1)
    row = app.locator("[data-task=vip]")
    expect(row).to_contain_text("Check vip")
    expect(row).to_contain_text("Compare the STL with the photo.")
    # and approves the task with a comment, without leaving the page
    row.locator("input[name=comment]").fill("matches")
    row.locator("button:has-text('Approve')").click()
    # then the row says it is done, and the engine completes the task
    expect(row.locator("[role=status]")).to_have_text("Task vip completed.")
    assert app.url == f"{live_server.url}/tasks?mine=1"
    advance(str(flow_run.pk))
    task = TaskRun.objects.get(order=order, key="vip")
    assert (task.state, task.result) == ("succeeded", {"outcome": "approve", "comment": "matches"})
    # and the list, shown again, holds only the ops task for everyone
    with app.expect_navigation():
        app.click("a:has-text('All waiting')")
    expect(app.locator("#tasks [data-task]")).to_have_count(1)
    expect(app.locator("[data-task=ops]")).to_have_count(1)
    expect(link.locator(".badge")).to_have_text("1")
