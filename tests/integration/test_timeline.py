"""The timeline: entries of known kinds, written in bulk in the change's transaction, and
updateUrl deliveries whose jobs are enqueued only when that transaction commits."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tasks_db.models import DBTaskResult

from fabflow.orders import timeline
from fabflow.orders.models import Order, OrderEvent, UpdateDelivery
from fabflow.orders.timeline import EventKind, Journal
from tests.factories import ApiClient, Tenant, order_body
from tests.integration.test_engine import MAIL, complete, flow, manual, run_engine, start


@pytest.fixture
def order(api: ApiClient) -> Order:
    body = order_body(updateUrl="https://shop.test/updates")
    return Order.objects.get(pk=api.post("/api/v1/orders", body).json()["id"])


@pytest.mark.django_db(transaction=True)
def test_every_entry_of_a_flow_is_of_a_known_kind(api: ApiClient, tenant: Tenant) -> None:
    # given an order whose flow mails, then waits for a person who rejects it
    chain = [{**MAIL, "next": [{"taskDefinitionKey": "check", "trigger": "success"}]}, manual()]
    order = start(api, tenant, flow(*chain))
    assert complete(api, order, "check", "reject").status_code == 202
    run_engine(order)
    assert order.status == "failure"
    # then every entry on its timeline is one of the kinds declared once
    kinds = list(OrderEvent.objects.filter(order=order).values_list("kind", flat=True))
    assert set(kinds) <= {kind.value for kind in EventKind}
    assert kinds[:2] == [EventKind.ORDER_CREATED, EventKind.FLOW_ASSIGNED]
    assert {EventKind.TASK_COMPLETED, EventKind.FLOW_FAILED} <= set(kinds)


def test_a_journal_writes_each_table_once_in_the_order_of_its_entries(order: Order) -> None:
    # given a journal with three entries and two deliveries for an order with an updateUrl
    journal = Journal()
    for i in range(3):
        journal.event(order, EventKind.TASK_WAITING, f"m{i}", data={"i": i}, actor="w")
    journal.update(order, EventKind.ORDER_STATUS_CHANGED, previous_status="created")
    journal.update(order, EventKind.ORDER_FEEDBACK, feedback={"status": "ok"})
    before = OrderEvent.objects.count()
    # when it is flushed
    with CaptureQueriesContext(connection) as queries:
        journal.flush()
    # then one INSERT per table wrote them, in order
    inserts = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 2
    new = OrderEvent.objects.order_by("id")[before:]
    assert [(e.kind, e.message, e.data, e.actor) for e in new] == [
        ("task.waiting", f"m{i}", {"i": i}, "w") for i in range(3)
    ]
    events = UpdateDelivery.objects.filter(order=order).order_by("created_at")
    assert [d.body["event"] for d in events] == ["order.status_changed", "order.feedback"]


@pytest.mark.django_db(transaction=True)
def test_delivery_jobs_are_enqueued_only_when_the_change_commits(api: ApiClient) -> None:
    from django.db import transaction

    body = order_body(updateUrl="https://shop.test/updates")
    order = Order.objects.get(pk=api.post("/api/v1/orders", body).json()["id"])
    queued = DBTaskResult.objects.count()
    # a change that rolls back leaves neither a delivery nor a job
    with pytest.raises(RuntimeError), transaction.atomic():
        timeline.queue_update(order, EventKind.ORDER_FEEDBACK, feedback={"status": "x"})
        raise RuntimeError
    assert (UpdateDelivery.objects.count(), DBTaskResult.objects.count()) == (0, queued)
    # a change that commits leaves one of each
    with transaction.atomic():
        delivery = timeline.queue_update(order, EventKind.ORDER_FEEDBACK, feedback={"status": "y"})
        assert DBTaskResult.objects.count() == queued
    assert delivery is not None
    assert UpdateDelivery.objects.get().pk == delivery.pk
    assert DBTaskResult.objects.count() == queued + 1


def test_an_order_without_update_url_gets_no_delivery(api: ApiClient) -> None:
    order = Order.objects.get(pk=api.post("/api/v1/orders", order_body()).json()["id"])
    assert timeline.queue_update(order, EventKind.ORDER_FEEDBACK, feedback={}) is None
    assert not UpdateDelivery.objects.exists()
