"""The Tasks page and staff actions on waiting tasks: the work list (ordering, for-my-tags,
organization scoping), completing from the list, confirming or skipping a customer
confirmation (API and web) with who and why on the timeline, the manual-task card and the
restart dialog of the order page."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from pytest_httpserver import HTTPServer

from fabflow.accounts.auth import Principal
from fabflow.flows import task_selectors
from fabflow.flows.models import FlowInbox, TaskRun
from fabflow.flows.services import create_flow
from fabflow.orders.models import Order, OrderEvent
from tests.factories import ApiClient, Tenant, order_body
from tests.integration.test_engine import MAIL, flow, run, run_engine, start

pytestmark = pytest.mark.django_db(transaction=True)

CONFIRM_MAIL = {
    "key": "files",
    "handlerKey": "asset-email",
    "payload": {
        "filter": r"\.zip$",
        "recipients": ["{customerEmail}"],
        "subject": "Your files",
        "needConfirmation": True,
        "body": "{assetOverview}<a href='{confirmationUrl}'>Confirm</a>",
    },
    "next": [{"taskDefinitionKey": "mail", "trigger": "success"}],
}
ZIP = [{"name": "Ring", "assets": [{"name": "print.zip", "contentBase64": "UEsFBg=="}]}]


def task(key: str, tags: list[str] | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "title": f"Check {key} of {{order.name}}",
        "description": "Look at the STL.\nThen decide.",
        "outcomes": ["approve", "reject"],
    }
    if tags is not None:
        payload["assigneeTags"] = tags
    return {"key": key, "handlerKey": "manual-task", "payload": payload}


def order_with(api: ApiClient, tenant: Tenant, name: str, tpo: str, **body: Any) -> Order:
    """An order of flow `name` (created once per space by the caller), run to its wait."""
    response = api.post("/api/v1/orders", order_body(tpo, flowKey=name, **body))
    assert response.status_code == 201, response.content
    order = Order.objects.get(pk=response.json()["id"])
    run_engine(order)
    return order


def who(tenant: Tenant) -> Principal:
    return Principal(tenant.org, None, "user:mia@acme.test")


def confirmation(api: ApiClient, tenant: Tenant) -> Order:
    order = start(api, tenant, [{"key": "s", "name": "S", "taskDefinitions": [CONFIRM_MAIL, MAIL]}],
                  products=ZIP)  # fmt: skip
    assert run(order, "files").state == "waiting"
    return order


def events(order: Order, kind: str) -> list[tuple[str, str, dict[str, Any]]]:
    rows = OrderEvent.objects.filter(order=order, kind=kind).order_by("created_at")
    return [(e.message, e.actor, e.data) for e in rows]


# --- The work list -------------------------------------------------------------------------


def test_the_work_list_puts_the_oldest_deadline_first_and_no_deadline_last(
    api: ApiClient, tenant: Tenant
) -> None:
    # given three orders waiting for a person: a late deadline, none, an early deadline
    create_flow(space=tenant.space, name="check-flow", definition=flow(task("check")))
    late = order_with(api, tenant, "check-flow", "T-1", deadline="2030-02-01T00:00:00Z")
    none = order_with(api, tenant, "check-flow", "T-2")
    early = order_with(api, tenant, "check-flow", "T-3", deadline="2030-01-01T00:00:00Z")
    # when the work list is read
    listed = task_selectors.worklist(who(tenant))
    # then the earliest deadline comes first and the order with none last
    assert [r.order_id for r in listed] == [early.id, late.id, none.id]


def test_the_work_list_holds_waiting_manual_tasks_and_confirmations_only(
    api: ApiClient, tenant: Tenant
) -> None:
    # given a waiting manual task, a completed one, and a waiting confirmation
    create_flow(space=tenant.space, name="check-flow", definition=flow(task("check")))
    waiting = order_with(api, tenant, "check-flow", "T-1")
    done = order_with(api, tenant, "check-flow", "T-2")
    api.post(f"/api/v1/tasks/{run(done, 'check').id}/complete", {"outcome": "approve"})
    run_engine(done)
    confirming = confirmation(api, tenant)
    # when the work list is read / then it holds the two that wait for a person
    listed = {(r.order_id, r.key) for r in task_selectors.worklist(who(tenant))}
    assert listed == {(waiting.id, "check"), (confirming.id, "files")}


def test_for_my_tags_keeps_the_manual_tasks_assigned_to_one_of_the_users_tags(
    api: ApiClient, tenant: Tenant
) -> None:
    # given manual tasks for the tags vip, ops, vip+ops and for nobody, and a confirmation
    tasks = [task("vip", ["vip"]), task("ops", ["ops"]), task("both", ["ops", "vip"]), task("any")]
    create_flow(space=tenant.space, name="tagged-flow", definition=flow(*tasks))
    order = order_with(api, tenant, "tagged-flow", "T-1")
    confirmation(api, tenant)
    # when a user tagged vip filters for their tags
    mine = task_selectors.worklist(who(tenant), tags=["vip"])
    # then only the tasks assigned to vip are listed
    assert sorted((r.order_id, r.key) for r in mine) == [(order.id, "both"), (order.id, "vip")]


def test_for_my_tags_finds_a_users_task_behind_a_full_page_of_others(
    api: ApiClient, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a work list capped at one row, whose first row is another team's task
    monkeypatch.setattr(task_selectors, "MAX_WORKLIST", 1)
    create_flow(space=tenant.space, name="ops-flow", definition=flow(task("ops", ["ops"])))
    create_flow(space=tenant.space, name="vip-flow", definition=flow(task("vip", ["vip"])))
    order_with(api, tenant, "ops-flow", "T-1", deadline="2030-01-01T00:00:00Z")
    vip = order_with(api, tenant, "vip-flow", "T-2", deadline="2030-02-01T00:00:00Z")
    # when a user tagged vip filters for their tags
    mine = task_selectors.worklist(who(tenant), tags=["vip"])
    # then their task is listed: the cap applies to what the filter keeps
    assert [(r.order_id, r.key) for r in mine] == [(vip.id, "vip")]


def test_the_tasks_page_filters_for_the_logged_in_users_tags(
    api: ApiClient, tenant: Tenant, staff: Client
) -> None:
    # given a task for vip and one for ops; the logged-in member is tagged vip
    create_flow(space=tenant.space, name="tagged-flow",
                definition=flow(task("vip", ["vip"]), task("ops", ["ops"])))  # fmt: skip
    order_with(api, tenant, "tagged-flow", "T-1")
    # when the page is shown for all, then for my tags
    every = staff.get("/tasks").content.decode()
    mine = staff.get("/tasks", {"mine": "1"}).content.decode()
    # then all shows both, the filter only the vip one
    assert ('data-task="vip"' in every, 'data-task="ops"' in every) == (True, True)
    assert ('data-task="vip"' in mine, 'data-task="ops"' in mine) == (True, False)


def test_another_organizations_tasks_are_never_listed_counted_or_completable(
    api: ApiClient, tenant: Tenant, other_tenant: Tenant, staff: Client
) -> None:
    # given a waiting task in the member's organization and one in another organization
    create_flow(space=tenant.space, name="check-flow", definition=flow(task("mine")))
    order_with(api, tenant, "check-flow", "T-1")
    create_flow(space=other_tenant.space, name="check-flow", definition=flow(task("theirs")))
    theirs = order_with(ApiClient(other_tenant.secret), other_tenant, "check-flow", "G-1")
    their_task = run(theirs, "theirs")
    # when the member lists, counts and tries to complete the other one
    page = staff.get("/tasks").content.decode()
    count = staff.get("/tasks/count").content.decode()
    answer = staff.post(f"/tasks/{their_task.id}/complete", {"outcome": "approve"})
    # then only their own task is listed and counted, and the other one is not found
    assert [r.key for r in task_selectors.worklist(who(tenant))] == ["mine"]
    assert ('data-task="mine"' in page, 'data-task="theirs"' in page) == (True, False)
    assert count == '<span class="badge text-bg-warning ms-1">1</span>'
    assert answer.status_code == 404
    assert FlowInbox.objects.filter(task_run=their_task).count() == 0


def test_a_secret_key_lists_and_skips_only_its_own_spaces_tasks(
    api: ApiClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    # given a waiting confirmation in another organization
    theirs = confirmation(ApiClient(other_tenant.secret), other_tenant)
    # when this tenant's key skips it
    answer = api.post(f"/api/v1/tasks/{run(theirs, 'files').id}/skip", {"reason": "x"})
    # then it is not found and nothing is recorded
    assert answer.status_code == 404
    assert events(theirs, "task.completed") == []


def test_the_sidebar_count_says_nothing_when_nothing_waits(staff: Client) -> None:
    answer = staff.get("/tasks/count")
    assert (answer.status_code, answer.content) == (200, b"")


def test_a_task_completed_from_the_list_comes_back_done_and_the_flow_goes_on(
    api: ApiClient, tenant: Tenant, staff: Client
) -> None:
    # given a waiting manual task
    create_flow(space=tenant.space, name="check-flow", definition=flow(task("check")))
    order = order_with(api, tenant, "check-flow", "T-1")
    check = run(order, "check")
    # when it is completed from the Tasks page through htmx
    answer = staff.post(
        f"/tasks/{check.id}/complete",
        {"outcome": "approve", "comment": "fine"},
        headers={"HX-Request": "true"},
    )
    run_engine(order)
    # then its row answers that it is completed, the task succeeded and the flow ended
    assert answer.status_code == 200
    assert "Task check completed." in answer.content.decode()
    assert run(order, "check").result == {"outcome": "approve", "comment": "fine"}
    assert order.status == "success"
    assert events(order, "task.completed")[0][1] == "user:mia@acme.test"


# --- Confirm or skip a customer confirmation -----------------------------------------------


def test_staff_confirm_through_the_api_with_who_and_why_on_the_timeline(
    api: ApiClient, tenant: Tenant
) -> None:
    order = confirmation(api, tenant)
    files = run(order, "files")
    # when the key confirms on the customer's behalf
    answer = api.post(f"/api/v1/tasks/{files.id}/confirm", {"reason": "confirmed by phone"})
    run_engine(order)
    # then the task succeeded as confirmed, the next task ran, and the timeline says who and why
    assert answer.status_code == 202
    assert run(order, "files").result == {"confirmed": True}
    assert run(order, "mail").state == "succeeded"
    assert order.status == "success"
    assert events(order, "task.confirmed") == [
        (
            "Confirmation files confirmed: confirmed by phone",
            f"key:{tenant.key.prefix}",
            {"taskRunId": str(files.id), "outcome": "confirmed", "reason": "confirmed by phone"},
        )
    ]


def test_skipping_through_the_api_succeeds_the_task_with_outcome_skipped(
    api: ApiClient, tenant: Tenant
) -> None:
    order = confirmation(api, tenant)
    files = run(order, "files")
    # when the key skips the confirmation
    answer = api.post(f"/api/v1/tasks/{files.id}/skip", {"reason": "customer on holiday"})
    run_engine(order)
    # then the task succeeded with outcome skipped and the flow went on
    assert answer.status_code == 202
    assert (run(order, "files").state, run(order, "files").result) == (
        "succeeded",
        {"outcome": "skipped", "reason": "customer on holiday"},
    )
    assert run(order, "mail").state == "succeeded"
    assert events(order, "task.completed") == [
        (
            "Confirmation files skipped: customer on holiday",
            f"key:{tenant.key.prefix}",
            {"taskRunId": str(files.id), "outcome": "skipped", "reason": "customer on holiday"},
        )
    ]


@pytest.mark.parametrize("body", [{}, {"reason": "   "}])
def test_a_skip_without_a_reason_is_422_naming_the_field(
    api: ApiClient, tenant: Tenant, body: dict[str, str]
) -> None:
    order = confirmation(api, tenant)
    answer = api.post(f"/api/v1/tasks/{run(order, 'files').id}/skip", body)
    assert answer.status_code == 422
    assert [e["loc"] for e in answer.json()["errors"]] == [["body", "reason"]]
    assert FlowInbox.objects.filter(task_run__order=order, kind="confirm").count() == 0


def test_a_manual_task_cannot_be_confirmed(api: ApiClient, tenant: Tenant) -> None:
    create_flow(space=tenant.space, name="check-flow", definition=flow(task("check")))
    order = order_with(api, tenant, "check-flow", "T-1")
    answer = api.post(f"/api/v1/tasks/{run(order, 'check').id}/confirm", {"reason": "x"})
    assert answer.status_code == 409
    assert run(order, "check").state == "waiting"


def test_a_confirmation_cannot_be_skipped_twice(api: ApiClient, tenant: Tenant) -> None:
    order = confirmation(api, tenant)
    path = f"/api/v1/tasks/{run(order, 'files').id}/skip"
    assert api.post(path, {"reason": "first"}).status_code == 202
    assert api.post(path, {"reason": "second"}).status_code == 409
    assert [e[0] for e in events(order, "task.completed")] == ["Confirmation files skipped: first"]


@pytest.mark.parametrize(
    ("action", "kind", "message"),
    [
        ("confirm", "task.confirmed", "Confirmation files confirmed: said yes by phone"),
        ("skip", "task.completed", "Confirmation files skipped: said yes by phone"),
    ],
)
def test_staff_confirm_or_skip_from_the_order_page_names_who_and_why(
    api: ApiClient, tenant: Tenant, staff: Client, action: str, kind: str, message: str
) -> None:
    order = confirmation(api, tenant)
    page = staff.get(f"/orders/{order.id}").content.decode()
    assert 'data-confirmation="files"' in page
    # when the member confirms or skips it from the order page
    files = run(order, "files")
    answer = staff.post(
        f"/orders/{order.id}/{action}", {"task": str(files.id), "reason": "said yes by phone"}
    )
    run_engine(order)
    # then the flow went on and the timeline names the member and the reason
    assert answer.status_code == 302
    assert order.status == "success"
    assert [(m, a) for m, a, _ in events(order, kind)] == [(message, "user:mia@acme.test")]


def test_the_order_page_refuses_a_skip_without_a_reason(
    api: ApiClient, tenant: Tenant, staff: Client
) -> None:
    order = confirmation(api, tenant)
    files = run(order, "files")
    answer = staff.post(
        f"/orders/{order.id}/skip", {"task": str(files.id), "reason": " "}, follow=True
    )
    assert "Say why (the reason goes on the timeline)." in answer.content.decode()
    assert FlowInbox.objects.filter(task_run=files).count() == 0


def test_a_confirmation_is_skipped_from_the_tasks_page(
    api: ApiClient, tenant: Tenant, staff: Client
) -> None:
    order = confirmation(api, tenant)
    files = run(order, "files")
    assert 'data-task="files"' in staff.get("/tasks").content.decode()
    answer = staff.post(
        f"/tasks/{files.id}/skip", {"reason": "no answer"}, headers={"HX-Request": "true"}
    )
    run_engine(order)
    assert "Confirmation files skipped." in answer.content.decode()
    assert run(order, "files").result == {"outcome": "skipped", "reason": "no answer"}
    assert [(m, a) for m, a, _ in events(order, "task.completed")] == [
        ("Confirmation files skipped: no answer", "user:mia@acme.test")
    ]


def test_an_asset_email_still_waiting_for_its_files_is_not_a_confirmation(
    api: ApiClient, tenant: Tenant, staff: Client, settings: Any, httpserver: HTTPServer
) -> None:
    # given an asset-email whose zip is still to be fetched from a URL (no e-mail sent yet)
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    assets = [{"name": "print.zip", "url": httpserver.url_for("/print.zip")}]
    order = start(api, tenant, flow(CONFIRM_MAIL | {"next": []}),
                  products=[{"name": "Ring", "assets": assets}])  # fmt: skip
    files = run(order, "files")
    assert (files.state, files.wake_at is not None) == ("waiting", True)
    # when staff look for work and try to skip it
    listed = task_selectors.worklist(who(tenant))
    page = staff.get(f"/orders/{order.id}").content.decode()
    answer = api.post(f"/api/v1/tasks/{files.id}/skip", {"reason": "no time"})
    # then it is not listed nor offered, and skipping it is refused: the e-mail must go first
    assert listed == []
    assert 'data-confirmation="files"' not in page
    assert answer.status_code == 409
    assert FlowInbox.objects.filter(task_run=files).count() == 0


# --- The order page ------------------------------------------------------------------------


def test_the_manual_task_card_shows_the_title_and_description(
    api: ApiClient, tenant: Tenant, staff: Client
) -> None:
    create_flow(space=tenant.space, name="check-flow", definition=flow(task("check")))
    order = order_with(api, tenant, "check-flow", "T-1")
    page = staff.get(f"/orders/{order.id}").content.decode()
    assert f"<strong>Check check of {order.name}</strong>" in page
    assert "Look at the STL.<br>Then decide." in page


def test_restart_lists_the_emails_and_connector_calls_it_repeats(
    api: ApiClient, tenant: Tenant, staff: Client
) -> None:
    # given a flow that sent an e-mail, then waits for a person; a second e-mail not yet sent
    later = {**MAIL, "key": "later", "payload": {**MAIL["payload"], "subject": "Done"}}
    stages = [
        {"key": "a", "name": "A", "taskDefinitions": [MAIL, task("check")]},
        {"key": "b", "name": "B", "taskDefinitions": [later]},
    ]
    order = start(api, tenant, stages)
    # when the order page is shown
    page = staff.get(f"/orders/{order.id}").content.decode()
    # then the restart dialog names the e-mail that ran, not the one still to come
    dialog = page[page.index('id="restart-repeats"') :]
    dialog = dialog[: dialog.index("</ul>")]
    assert "<strong>Order " in dialog and "mail · send-email" in dialog
    assert "later" not in dialog
    assert [r.key for r in task_selectors.repeated_side_effects(order)] == ["mail"]


def test_restart_says_nothing_is_repeated_before_any_side_effect(
    api: ApiClient, tenant: Tenant, staff: Client
) -> None:
    order = start(api, tenant, flow(task("check")))
    page = staff.get(f"/orders/{order.id}").content.decode()
    assert "No e-mail was sent and no connector called yet: nothing is repeated." in page
    assert task_selectors.repeated_side_effects(order) == []


def test_retry_stays_a_plain_button(api: ApiClient, tenant: Tenant, staff: Client) -> None:
    failing = task("check") | {"payload": {"title": "Check", "outcomes": ["ok", "no"],
                                            "failureOutcomes": ["no"]}}  # fmt: skip
    create_flow(space=tenant.space, name="check-flow", definition=flow(failing))
    order = order_with(api, tenant, "check-flow", "T-1")
    api.post(f"/api/v1/tasks/{run(order, 'check').id}/complete", {"outcome": "no"})
    run_engine(order)
    page = staff.get(f"/orders/{order.id}").content.decode()
    assert (
        '<button class="btn btn-outline-danger btn-sm" type="submit">Retry this task</button>'
        in page
    )
    assert TaskRun.objects.get(order=order).state == "failed"
