"""The runner on a real database: flows run to the end, timers, failures, staff actions."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone
from pytest_httpserver import HTTPServer
from standardwebhooks.webhooks import Webhook

from fabflow.flows.engine.runner import advance
from fabflow.flows.models import FlowRun, TaskRun
from fabflow.flows.services import create_flow, save_version
from fabflow.orders.models import DeliveryAttempt, Order, OrderEvent, UpdateDelivery
from tests.factories import ApiClient, Tenant, order_body

pytestmark = pytest.mark.django_db(transaction=True)

MAIL = {
    "key": "mail",
    "handlerKey": "send-email",
    "payload": {
        "recipients": ["{customerEmail}"],
        "subject": "Order {order.name}",
        "body": "Hello {customerInfo.name}",
    },
}


def manual(key: str = "check", **extra: Any) -> dict[str, Any]:
    payload = {"title": "Check", "outcomes": ["approve", "reject"], "failureOutcomes": ["reject"]}
    return {"key": key, "handlerKey": "manual-task", "payload": payload, **extra}


def flow(*tasks: dict[str, Any], stages: int = 1) -> list[dict[str, Any]]:
    """Stages holding copies of `tasks`; task keys of stage i > 0 get the suffix "-i"."""

    def copy(task: dict[str, Any], i: int) -> dict[str, Any]:
        suffix = f"-{i}" if i else ""
        nexts = [
            {**n, "taskDefinitionKey": n["taskDefinitionKey"] + suffix}
            for n in task.get("next", [])
        ]
        return {**task, "key": task["key"] + suffix, "next": nexts}

    return [
        {"key": f"s{i}", "name": f"Stage {i}", "taskDefinitions": [copy(t, i) for t in tasks]}
        for i in range(stages)
    ]


def start(api: ApiClient, tenant: Tenant, definition: list[dict[str, Any]], **body: Any) -> Order:
    create_flow(space=tenant.space, name="test-flow", definition=definition)
    response = api.post("/api/v1/orders", order_body(flowKey="test-flow", **body))
    assert response.status_code == 201, response.content
    order = Order.objects.get(pk=response.json()["id"])
    run_engine(order)
    return order


def run_engine(order: Order) -> None:
    advance(str(FlowRun.objects.get(order=order).pk))
    order.refresh_from_db()


def run(order: Order, key: str) -> TaskRun:
    return TaskRun.objects.filter(order=order, key=key).order_by("-attempt").first()  # type: ignore[return-value]


def kinds(order: Order) -> list[str]:
    return list(OrderEvent.objects.filter(order=order).values_list("kind", flat=True))


def complete(api: ApiClient, order: Order, key: str, outcome: str) -> Any:
    return api.post(f"/api/v1/tasks/{run(order, key).id}/complete", {"outcome": outcome})


def test_flow_runs_to_success(api: ApiClient, tenant: Tenant) -> None:
    # given a flow: e-mail, then a manual check
    definition = flow(
        {**MAIL, "next": [{"taskDefinitionKey": "check", "trigger": "success"}]}, manual()
    )
    order = start(api, tenant, definition)
    # then the mail went out and the order waits for the person
    assert order.status == "in_progress"
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject == "Order WEB-1001"
    assert (
        mail.outbox[0].extra_headers["Message-ID"] == f"<taskrun-{run(order, 'mail').id}@localhost>"
    )
    assert run(order, "check").state == "waiting"
    # when the person approves
    assert complete(api, order, "check", "approve").status_code == 202
    run_engine(order)
    # then the flow succeeded and every transition is on the timeline
    assert order.status == "success"
    assert run(order, "check").result == {"outcome": "approve", "comment": ""}
    assert kinds(order) == [
        "order.created",
        "flow.assigned",
        "flow.started",
        "stage.started",
        "order.status_changed",
        "task.started",
        "task.succeeded",
        "task.started",
        "task.waiting",
        "task.completed",
        "task.succeeded",
        "flow.succeeded",
        "order.status_changed",
    ]


def test_completion_is_checked(api: ApiClient, tenant: Tenant) -> None:
    order = start(api, tenant, flow(manual()))
    response = complete(api, order, "check", "maybe")
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "outcome"]
    assert complete(api, order, "check", "approve").status_code == 202
    assert complete(api, order, "check", "approve").status_code == 409
    run_engine(order)
    assert complete(api, order, "check", "approve").status_code == 409


def test_failure_outcome_fails_the_flow_and_retry_resumes_it(
    api: ApiClient, tenant: Tenant
) -> None:
    order = start(api, tenant, flow(manual("a"), manual("b")))
    complete(api, order, "a", "reject")
    run_engine(order)
    assert order.status == "failure"
    assert run(order, "b").state == "cancelled"
    # when staff retry the failed task
    failed = run(order, "a")
    assert api.post(f"/api/v1/tasks/{failed.id}/retry").status_code == 202
    run_engine(order)
    # then both tasks run again and the order is back in progress
    assert order.status == "in_progress"
    assert run(order, "a").attempt == 2 and run(order, "a").state == "waiting"
    assert run(order, "b").attempt == 2 and run(order, "b").state == "waiting"
    complete(api, order, "a", "approve")
    complete(api, order, "b", "approve")
    run_engine(order)
    assert order.status == "success"


def test_handled_failure_continues(api: ApiClient, tenant: Tenant) -> None:
    definition = flow(
        manual("a", next=[{"taskDefinitionKey": "fix", "trigger": "failure"}]), manual("fix")
    )
    order = start(api, tenant, definition)
    complete(api, order, "a", "reject")
    run_engine(order)
    assert order.status == "in_progress"
    assert run(order, "fix").state == "waiting"


def test_timeout_makes_the_order_unhealthy_until_the_task_ends(
    api: ApiClient, tenant: Tenant
) -> None:
    definition = flow(
        manual(
            "slow",
            timeoutDuration=60000,
            next=[{"taskDefinitionKey": "escalate", "trigger": "timeout"}],
        ),
        manual("escalate"),
    )
    order = start(api, tenant, definition)
    slow = run(order, "slow")
    assert slow.timeout_at is not None
    # when the timeout falls due
    TaskRun.objects.filter(pk=slow.pk).update(timeout_at=timezone.now() - timedelta(seconds=1))
    run_engine(order)
    # then the order is unhealthy and the timeout branch started, once
    assert order.status == "unhealthy"
    assert run(order, "escalate").state == "waiting"
    run_engine(order)
    assert kinds(order).count("task.timed_out") == 1
    # and finishing the late task clears Unhealthy
    complete(api, order, "slow", "approve")
    run_engine(order)
    assert order.status == "in_progress"


def test_wait_is_a_durable_timer(api: ApiClient, tenant: Tenant) -> None:
    order = start(
        api,
        tenant,
        flow({"key": "pause", "handlerKey": "wait", "payload": {"durationMs": 3600000}}),
    )
    pause = run(order, "pause")
    assert pause.state == "waiting"
    assert pause.wake_at is not None
    assert FlowRun.objects.get(order=order).due_at == pause.wake_at
    # when the hour has passed (moved back in time: the timer is a row, not a sleeping thread)
    hour_ago = timezone.now() - timedelta(hours=1)
    TaskRun.objects.filter(pk=pause.pk).update(wake_at=timezone.now(), started_at=hour_ago)
    run_engine(order)
    assert order.status == "success"


def test_timer_woken_by_another_step_runs_within_the_same_lease(
    api: ApiClient, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    # given a stage of a manual check beside an hour-long wait whose hour has passed
    order = start(
        api,
        tenant,
        flow(manual(), {"key": "pause", "handlerKey": "wait", "payload": {"durationMs": 3600000}}),
    )
    hour_ago = timezone.now() - timedelta(hours=1)
    TaskRun.objects.filter(order=order, key="pause").update(
        wake_at=timezone.now(), started_at=hour_ago
    )
    # when the check is completed: its step finds the timer due and starts it in its own
    # transaction (the lease must not be given back while that task is being run)
    complete(api, order, "check", "approve")
    run_engine(order)
    # then both tasks ended in one advance, without losing the lease, and the lease is free
    assert order.status == "success"
    assert "lost the lease" not in caplog.text
    flow_run = FlowRun.objects.get(order=order)
    assert (flow_run.lease_owner, flow_run.due_at) == ("", None)


def test_a_step_that_leaves_nothing_to_do_gives_the_lease_back(
    api: ApiClient, tenant: Tenant
) -> None:
    # given a flow waiting for a person
    order = start(api, tenant, flow(manual()))
    # then the step that made it wait also released the lease and set no due time
    flow_run = FlowRun.objects.get(order=order)
    assert run(order, "check").state == "waiting"
    assert (flow_run.lease_owner, flow_run.lease_until, flow_run.due_at) == ("", None, None)


def test_stages_run_one_after_another(api: ApiClient, tenant: Tenant) -> None:
    order = start(api, tenant, flow(manual("x"), stages=2))
    assert TaskRun.objects.filter(order=order).count() == 1
    complete(api, order, "x", "approve")
    run_engine(order)
    runs = list(TaskRun.objects.filter(order=order).order_by("created_at"))
    assert [(r.stage, r.state) for r in runs] == [(0, "succeeded"), (1, "waiting")]


def test_restart_runs_the_flow_again(api: ApiClient, tenant: Tenant) -> None:
    order = start(api, tenant, flow(manual("x")))
    assert api.post(f"/api/v1/orders/{order.id}/restart").status_code == 202
    run_engine(order)
    runs = list(TaskRun.objects.filter(order=order).order_by("created_at"))
    assert [(r.generation, r.state) for r in runs] == [(0, "cancelled"), (1, "waiting")]
    assert "flow.restarted" in kinds(order)


def test_orders_keep_the_flow_version_they_started_with(api: ApiClient, tenant: Tenant) -> None:
    order = start(api, tenant, flow(manual("v1-task")))
    flow_obj = FlowRun.objects.get(order=order).flow_version.flow
    save_version(flow=flow_obj, definition=flow(manual("v2-task")))
    complete(api, order, "v1-task", "approve")
    run_engine(order)
    assert order.status == "success"
    newer = api.post("/api/v1/orders", order_body("WEB-2", flowKey="test-flow")).json()
    assert newer["flow"] == {"key": "test-flow", "version": 2}


def test_start_endpoint_starts_a_created_order_once(api: ApiClient, tenant: Tenant) -> None:
    create_flow(space=tenant.space, name="later-flow", definition=flow(manual()))
    order_id = api.post("/api/v1/orders", order_body()).json()["id"]
    response = api.client.post(
        f"/api/v1/orders/{order_id}/start?flowKey=later-flow", headers=api.headers
    )
    assert response.status_code == 202
    again = api.client.post(f"/api/v1/orders/{order_id}/start", headers=api.headers)
    assert again.status_code == 409
    order = Order.objects.get(pk=order_id)
    run_engine(order)
    assert order.status == "in_progress"


def test_tasks_endpoint_lists_waiting_manual_tasks(api: ApiClient, tenant: Tenant) -> None:
    order = start(api, tenant, flow(manual()))
    response = api.get("/api/v1/tasks", orderId=str(order.id), state="waiting")
    items = response.json()["items"]
    assert [(t["key"], t["title"], t["outcomes"]) for t in items] == [
        ("check", "Check", ["approve", "reject"])
    ]
    assert api.get(f"/api/v1/orders/{order.id}").json()["tasks"][0]["state"] == "waiting"


def test_status_changes_are_posted_signed_to_the_update_url(
    api: ApiClient, tenant: Tenant, httpserver: HTTPServer, settings: Any
) -> None:
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    httpserver.expect_request("/updates", method="POST").respond_with_data("ok")
    order = start(api, tenant, flow(manual()), updateUrl=httpserver.url_for("/updates"))
    complete(api, order, "check", "approve")
    run_engine(order)
    call_command("worker", batch=True, verbosity=0)
    bodies = [json.loads(r.get_data()) for r, _ in httpserver.log]
    assert [(b["event"], b.get("previousStatus"), b["order"]["status"]) for b in bodies] == [
        ("order.status_changed", "created", "in_progress"),
        ("order.status_changed", "in_progress", "success"),
    ]
    request = httpserver.log[0][0]
    Webhook(tenant.space.signing_secret).verify(request.get_data(), dict(request.headers))
    assert UpdateDelivery.objects.filter(state="delivered").count() == 2
    assert DeliveryAttempt.objects.filter(status_code=200).count() == 2


def test_failed_update_deliveries_are_retried_and_logged(
    api: ApiClient, tenant: Tenant, httpserver: HTTPServer, settings: Any
) -> None:
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    settings.FABFLOW_UPDATE_MAX_ATTEMPTS = 2
    httpserver.expect_request("/updates").respond_with_data("down", status=503)
    start(api, tenant, flow(manual()), updateUrl=httpserver.url_for("/updates"))
    call_command("worker", batch=True, verbosity=0)
    delivery = UpdateDelivery.objects.get()
    assert delivery.state == "pending" and delivery.attempts == 1
    UpdateDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    from fabflow.orders.updates import deliver_update

    deliver_update.call(str(delivery.pk))
    delivery.refresh_from_db()
    assert delivery.state == "failed"
    assert list(delivery.log.values_list("attempt", "status_code")) == [(1, 503), (2, 503)]


def test_lost_update_deliveries_are_requeued_but_not_while_the_queue_is_behind(
    api: ApiClient, tenant: Tenant, httpserver: HTTPServer, settings: Any
) -> None:
    from django_tasks_db.models import DBTaskResult

    from fabflow.flows.engine.sweeper import GRACE, sweep

    # given a delivery whose job was lost (pending long past its attempt time)
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    start(api, tenant, flow(manual()), updateUrl=httpserver.url_for("/updates"))
    DBTaskResult.objects.all().delete()
    UpdateDelivery.objects.update(next_attempt_at=timezone.now() - 2 * GRACE)
    # when the queue has a backlog of overdue jobs, the sweeper waits
    from fabflow.orders.updates import deliver_update

    deliver_update.enqueue("00000000-0000-0000-0000-000000000000")
    DBTaskResult.objects.update(enqueued_at=timezone.now() - 2 * GRACE)
    assert sweep() == 0
    # and once the queue has caught up, it re-queues the stalled delivery exactly once
    DBTaskResult.objects.all().delete()
    assert sweep() == 1
    assert sweep() == 0
    assert DBTaskResult.objects.filter(status="READY").count() == 1


def test_a_killed_workers_flow_run_is_claimed_again_once_its_lease_expires(
    api: ApiClient, tenant: Tenant
) -> None:
    from fabflow.flows.engine.claims import claim
    from fabflow.flows.engine.loop import drain

    # given an order whose flow run a dead worker leased and never advanced
    create_flow(space=tenant.space, name="test-flow", definition=flow(manual()))
    order_id = api.post("/api/v1/orders", order_body(flowKey="test-flow")).json()["id"]
    later = timezone.now() + timedelta(seconds=60)
    FlowRun.objects.filter(order_id=order_id).update(lease_owner="dead", lease_until=later)
    # then nobody may claim it while the lease lasts
    assert claim("other", 10) == []
    # when the lease has expired
    earlier = timezone.now() - timedelta(seconds=1)
    FlowRun.objects.filter(order_id=order_id).update(lease_until=earlier)
    drain(10)
    # then another worker started the flow, and gave the lease back
    flow_run = FlowRun.objects.get(order_id=order_id)
    assert Order.objects.get(pk=order_id).status == "in_progress"
    assert (flow_run.lease_owner, flow_run.lease_until, flow_run.due_at) == ("", None, None)


def test_claims_take_due_runs_in_batches_oldest_first(api: ApiClient, tenant: Tenant) -> None:
    from fabflow.flows.engine.claims import claim

    create_flow(space=tenant.space, name="test-flow", definition=flow(manual()))
    ids = [
        api.post("/api/v1/orders", order_body(f"B-{i}", flowKey="test-flow")).json()["id"]
        for i in range(5)
    ]
    first = claim("one", 3)
    second = claim("two", 3)
    assert [str(h.order.id) for h in first] == ids[:3]
    assert [str(h.order.id) for h in second] == ids[3:]
    assert claim("three", 3) == []


def test_an_event_posted_while_a_worker_holds_the_run_is_not_lost(
    api: ApiClient, tenant: Tenant
) -> None:
    from fabflow.flows.engine.claims import hold
    from fabflow.flows.engine.runner import advance_held

    # given a flow waiting at a manual task, held by a worker that has read its inbox
    order = start(api, tenant, flow(manual()))
    held = hold(str(FlowRun.objects.get(order=order).pk), "holder")
    assert held is not None and held.inbox == []
    # when the task is completed before the holder gives the lease back
    assert complete(api, order, "check", "approve").status_code == 202
    advance_held(held)
    # then the holder noticed the completion instead of releasing the run
    order.refresh_from_db()
    assert order.status == "success"
    assert FlowRun.objects.get(order=order).lease_owner == ""


def test_task_titles_show_the_order_fields(api: ApiClient, tenant: Tenant) -> None:
    order = start(
        api,
        tenant,
        flow(
            {
                "key": "check",
                "handlerKey": "manual-task",
                "payload": {"title": "Check {order.name}"},
            }
        ),
    )
    items = api.get("/api/v1/tasks", orderId=str(order.id)).json()["items"]
    assert [t["title"] for t in items] == ["Check WEB-1001"]


def test_a_busy_flow_yields_its_lease_and_is_due_again(
    api: ApiClient, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fabflow.flows.engine import runner

    # given a flow with more steps ready than one advance may take
    create_flow(
        space=tenant.space,
        name="test-flow",
        definition=flow(
            {**MAIL, "next": [{"taskDefinitionKey": "check", "trigger": "success"}]}, manual()
        ),
    )
    order_id = api.post("/api/v1/orders", order_body(flowKey="test-flow")).json()["id"]
    flow_run = FlowRun.objects.get(order_id=order_id)
    monkeypatch.setattr(runner, "MAX_STEPS", 1)
    # when one advance takes its single step
    assert advance(str(flow_run.pk)) == 1
    # then the lease is free and the flow run is due at once, for any worker
    flow_run.refresh_from_db()
    assert flow_run.lease_owner == ""
    assert flow_run.due_at is not None and flow_run.due_at <= timezone.now()


def test_flow_list_shows_each_flows_current_version(api: ApiClient, tenant: Tenant) -> None:
    first = create_flow(space=tenant.space, name="first-flow", definition=flow(manual()))
    save_version(flow=first, definition=flow(manual("v2")))
    create_flow(space=tenant.space, name="second-flow", definition=flow(manual("only")))
    items = api.get("/api/v1/flows").json()["items"]
    assert [
        (f["name"], f["version"], f["definition"][0]["taskDefinitions"][0]["key"]) for f in items
    ] == [("first-flow", 2, "v2"), ("second-flow", 1, "only")]


def _statements(queries: Any, table: str, verb: str) -> list[str]:
    return [q["sql"] for q in queries if q["sql"].startswith(verb) and f'"{table}"' in q["sql"]]


def _posted(api: ApiClient, tenant: Tenant, definition: list[dict[str, Any]]) -> Order:
    """An order whose flow run waits for a worker (start() runs the engine as well)."""
    create_flow(space=tenant.space, name="test-flow", definition=definition)
    response = api.post("/api/v1/orders", order_body(flowKey="test-flow"))
    return Order.objects.get(pk=response.json()["id"])


PAUSE = {"key": "pause", "handlerKey": "wait", "payload": {"durationMs": 0}}


def test_a_new_flow_run_is_claimed_without_reading_task_runs(
    api: ApiClient, tenant: Tenant
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from fabflow.flows.engine import claims

    # given a new order's flow run, due and not started
    order = _posted(api, tenant, flow(PAUSE))
    # when a worker claims it
    with CaptureQueriesContext(connection) as queries:
        [held] = claims.claim("test-worker", 5)
    # then its (absent) task runs are not read, its inbox is
    assert held.flow_run.order_id == order.pk
    assert _statements(queries, "flows_taskrun", "SELECT") == []
    assert len(_statements(queries, "flows_flowinbox", "SELECT")) == 1


def test_the_last_step_gives_the_lease_back_in_the_statement_that_ends_the_flow(
    api: ApiClient, tenant: Tenant
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    # given a flow whose last task waits for a person
    order = _posted(api, tenant, flow(PAUSE, manual("check")))
    advance(str(FlowRun.objects.get(order=order).pk))
    # when the person completes it and a worker goes on
    completed = api.post(f"/api/v1/tasks/{run(order, 'check').pk}/complete", {"outcome": "approve"})
    assert completed.status_code == 202, completed.content
    with CaptureQueriesContext(connection) as queries:
        advance(str(FlowRun.objects.get(order=order).pk))
    # then the flow run is written twice: the lease taken, then the flow's end together with
    # the lease given back
    updates = _statements(queries, "flows_flowrun", "UPDATE")
    assert len(updates) == 2
    assert '"status" = ' in updates[-1] and '"lease_owner" = ' in updates[-1]
    assert Order.objects.get(pk=order.pk).status == "success"
    assert FlowRun.objects.get(order=order).lease_owner == ""


def test_in_transaction_handlers_start_and_end_in_one_transaction(
    api: ApiClient, tenant: Tenant
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    # given a chain of two waits of 0 ms and a manual task
    second = {**PAUSE, "key": "pause-2"}
    first = {**PAUSE, "next": [{"taskDefinitionKey": "pause-2", "trigger": "success"}]}
    chained = {**second, "next": [{"taskDefinitionKey": "check", "trigger": "success"}]}
    order = _posted(api, tenant, flow(first, chained, manual("check")))
    # when a worker advances the new flow
    with CaptureQueriesContext(connection) as queries:
        advance(str(FlowRun.objects.get(order=order).pk))
    # then every task run is written once, already in the state its handler left it in: each
    # was started, run and recorded in the same transaction (no later UPDATE of a task run)
    assert _statements(queries, "flows_taskrun", "UPDATE") == []
    states = dict(TaskRun.objects.filter(order=order).values_list("key", "state"))
    assert states == {"pause": "succeeded", "pause-2": "succeeded", "check": "waiting"}
    assert kinds(order)[-1] == "task.waiting"
