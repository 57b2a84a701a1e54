"""The engine's store writes and reads its rows as the ORM would, guarded where it must be."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from fabflow.flows.engine import store
from fabflow.flows.engine.runner import advance
from fabflow.flows.engine.store import InboxKind
from fabflow.flows.models import FlowInbox, FlowRun, TaskRun
from fabflow.flows.services import create_flow
from fabflow.orders.models import Order
from tests.factories import ApiClient, Tenant, order_body

MANUAL = {"key": "check", "handlerKey": "manual-task", "payload": {"title": "Check"}}
TASK_COLUMNS = [f.attname for f in TaskRun._meta.concrete_fields]


@pytest.fixture
def task_run(api: ApiClient, tenant: Tenant) -> TaskRun:
    create_flow(
        space=tenant.space,
        name="store-flow",
        definition=[{"key": "s", "name": "S", "taskDefinitions": [MANUAL]}],
    )
    created = api.post("/api/v1/orders", order_body(flowKey="store-flow")).json()
    flow_run = FlowRun.objects.get(order_id=created["id"])
    advance(str(flow_run.pk))
    return TaskRun.objects.get(flow_run=flow_run)


def _fields(obj: object, names: list[str]) -> dict[str, object]:
    return {name: getattr(obj, name) for name in names}


def test_values_of_every_kind_round_trip(task_run: TaskRun) -> None:
    # given values of every kind: JSON, datetimes, booleans, text with quotes, NULL
    values = {
        "result": {"a": [1, "é", None], "b": {"c": True}},
        "wake_at": timezone.now() + timedelta(hours=1),
        "timed_out": True,
        "reason": 'it\'s "quoted"',
        "deliveries": 7,
        "finished_at": None,
    }
    # when written by the store and read back by it
    store.write_run(task_run, values)
    [read] = store.task_runs_of([task_run.flow_run_id])
    # then both the store and the ORM read what was written
    assert _fields(read, list(values)) == values
    assert _fields(read, TASK_COLUMNS) == _fields(TaskRun.objects.get(pk=task_run.pk), TASK_COLUMNS)
    assert read._state.adding is False


def test_the_lease_is_given_back_only_by_its_holder_while_nothing_new_arrived(
    task_run: TaskRun,
) -> None:
    flow_run = task_run.flow_run
    FlowRun.objects.filter(pk=flow_run.pk).update(lease_owner="w1", wake_seq=3)
    due = timezone.now()
    # another owner, or a wake_seq that moved on, changes nothing
    assert store.release_lease(flow_run, "w2", 3, due, {}) is False
    assert store.release_lease(flow_run, "w1", 2, due, {"stage": 5}) is False
    assert FlowRun.objects.get(pk=flow_run.pk).lease_owner == "w1"
    # the holder gives it back, with the other columns in the same statement
    assert store.release_lease(flow_run, "w1", 3, due, {"stage": 5}) is True
    released = FlowRun.objects.get(pk=flow_run.pk)
    assert (released.lease_owner, released.lease_until, released.due_at) == ("", None, due)
    assert released.stage == 5


def test_an_outside_event_wakes_the_flow_run(task_run: TaskRun) -> None:
    # given a flow run with nothing due
    FlowRun.objects.filter(pk=task_run.flow_run_id).update(due_at=None, wake_seq=4)
    # when an event is posted for it
    store.post(task_run.flow_run_id, InboxKind.CONFIRM, task_run=task_run, actor="me")
    # then it waits in the inbox, and the run is due with its wake_seq raised
    woken = FlowRun.objects.get(pk=task_run.flow_run_id)
    assert woken.wake_seq == 5
    assert woken.due_at is not None and woken.due_at <= timezone.now()
    [item] = store.inbox_of([task_run.flow_run_id])
    assert (item.kind, item.task_run_id, item.actor) == ("confirm", task_run.pk, "me")
    assert store.has_ending_event(task_run) is True


def test_an_order_is_read_with_its_space_in_one_statement(
    task_run: TaskRun, django_assert_num_queries: Any
) -> None:
    expected = Order.objects.select_related("space").get(pk=task_run.order_id)
    flow_run = FlowRun.objects.get(pk=task_run.flow_run_id)
    with django_assert_num_queries(1):
        orders = store.orders_of([flow_run])
        space = orders[task_run.order_id].space
    assert (space.pk, space.key, space.signing_secret) == (
        expected.space.pk,
        expected.space.key,
        expected.space.signing_secret,
    )


def test_a_locked_task_run_locks_only_its_own_row(task_run: TaskRun) -> None:
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        locked = store.lock_task_run(task_run.pk)
    assert locked is not None and locked.order.pk == task_run.order_id
    sql = queries.captured_queries[-1]["sql"]
    assert sql.endswith("FOR UPDATE OF t") == connection.features.has_select_for_update
    assert store.lock_task_run("00000000-0000-0000-0000-000000000000") is None


def test_new_rows_keep_the_keys_made_in_python(task_run: TaskRun) -> None:
    # given more task runs than one statement takes on SQLite (999 parameters / 19 columns)
    template = _fields(task_run, [c for c in TASK_COLUMNS if c not in ("id", "created_at")])
    new = [TaskRun(**{**template, "key": f"k{i}"}) for i in range(120)]
    # when inserted
    store.insert_new(new)
    # then every row is stored under its key, and marked saved
    stored = dict(TaskRun.objects.filter(pk__in=[r.pk for r in new]).values_list("pk", "key"))
    assert stored == {r.pk: r.key for r in new}
    assert not any(r._state.adding for r in new)


def test_only_unprocessed_events_are_read(task_run: TaskRun) -> None:
    flow_run = task_run.flow_run
    FlowInbox.objects.filter(flow_run=flow_run).delete()
    done = FlowInbox.objects.create(flow_run=flow_run, kind="retry", processed_at=timezone.now())
    waiting = FlowInbox.objects.create(flow_run=flow_run, kind="restart")
    assert [i.pk for i in store.inbox_of([flow_run.pk])] == [waiting.pk]
    store.mark_processed(waiting, timezone.now())
    assert store.inbox_of([flow_run.pk]) == []
    assert done.pk != waiting.pk
