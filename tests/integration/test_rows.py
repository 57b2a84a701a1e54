"""The hot paths' plain statements write and read what the ORM writes and reads."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection as django_connection
from django.utils import timezone

from fabflow.core import rows
from fabflow.flows.engine.runner import advance
from fabflow.flows.models import FlowInbox, FlowRun, TaskRun
from fabflow.flows.services import create_flow
from fabflow.orders.models import Order, OrderEvent
from tests.factories import ApiClient, Tenant, order_body

MANUAL = {"key": "check", "handlerKey": "manual-task", "payload": {"title": "Check"}}


@pytest.fixture
def task_run(api: ApiClient, tenant: Tenant) -> TaskRun:
    create_flow(
        space=tenant.space,
        name="rows-flow",
        definition=[{"key": "s", "name": "S", "taskDefinitions": [MANUAL]}],
    )
    created = api.post("/api/v1/orders", order_body(flowKey="rows-flow")).json()
    flow_run = FlowRun.objects.get(order_id=created["id"])
    advance(str(flow_run.pk))
    return TaskRun.objects.get(flow_run=flow_run)


def test_values_of_every_kind_round_trip(task_run: TaskRun) -> None:
    later = timezone.now() + timedelta(hours=1)
    values = {
        "result": {"a": [1, "é"], "b": None},
        "wake_at": later,
        "timed_out": True,
        "reason": 'it\'s "quoted"',
        "deliveries": 7,
        "finished_at": None,
    }
    assert rows.update(TaskRun, task_run.pk, values) == 1
    task_run.refresh_from_db()
    assert {name: getattr(task_run, name) for name in values} == values


def test_conditions_guard_the_update(task_run: TaskRun) -> None:
    flow_run = task_run.flow_run
    FlowRun.objects.filter(pk=flow_run.pk).update(lease_owner="w1", wake_seq=3)
    free = {"lease_owner": "", "lease_until": None}
    # another owner, or a wake_seq that moved on, changes nothing
    assert rows.update(FlowRun, flow_run.pk, free, lease_owner="w2", wake_seq=3) == 0
    assert rows.update(FlowRun, flow_run.pk, free, lease_owner="w1", wake_seq=2) == 0
    assert FlowRun.objects.get(pk=flow_run.pk).lease_owner == "w1"
    # the holder's guarded update applies
    assert rows.update(FlowRun, flow_run.pk, free, lease_owner="w1", wake_seq=3) == 1
    assert FlowRun.objects.get(pk=flow_run.pk).lease_owner == ""


def test_other_rows_and_null_conditions(task_run: TaskRun) -> None:
    other = Order.objects.exclude(pk=task_run.order_id).first()
    assert other is None or other.status != "failure"
    assert rows.update(Order, task_run.order_id, {"status": "failure"}) == 1
    assert Order.objects.filter(status="failure").count() == 1
    with pytest.raises(ValueError, match="NULL"):
        rows.update(FlowRun, task_run.flow_run_id, {"due_at": None}, lease_until=None)
    with pytest.raises(ValueError, match="not a column"):
        rows.update(Order, task_run.order_id, {"products": []})


def _fields(obj: object, names: list[str]) -> dict[str, object]:
    return {name: getattr(obj, name) for name in names}


COLUMNS = [f.attname for f in TaskRun._meta.concrete_fields]
ORDER_COLUMNS = [f.attname for f in Order._meta.concrete_fields]
ON_POSTGRESQL = pytest.mark.skipif(
    django_connection.vendor != "postgresql", reason="prepared statements: PostgreSQL only"
)


def test_select_reads_what_the_orm_reads(task_run: TaskRun) -> None:
    # given values of every kind: JSON, datetimes, booleans, UUIDs, NULLs
    later = timezone.now() + timedelta(minutes=5)
    values = {"result": {"x": [1, "é", None]}, "wake_at": later, "timed_out": True}
    TaskRun.objects.filter(pk=task_run.pk).update(**values)
    # when read by id, by a list of ids and by a NULL test
    by_id = rows.select(TaskRun, where={"flow_run": task_run.flow_run_id})
    by_list = rows.select(TaskRun, where={"pk": [task_run.pk, task_run.pk]})
    unfinished = rows.select(TaskRun, where={"pk": task_run.pk, "finished_at": None})
    # then each is the ORM's row, saved state included
    expected = _fields(TaskRun.objects.get(pk=task_run.pk), COLUMNS)
    for found in (by_id, by_list, unfinished):
        assert [_fields(r, COLUMNS) for r in found] == [expected]
        assert found[0]._state.adding is False
    assert rows.select(TaskRun, where={"pk": []}) == []
    assert rows.select(TaskRun, where={"pk": task_run.pk, "wake_at": None}) == []


def test_select_orders_like_the_orm(task_run: TaskRun) -> None:
    flow_run = task_run.flow_run
    for kind in ("b", "a", "c"):
        FlowInbox.objects.create(flow_run=flow_run, kind=kind)
    for order_by in (["kind"], ["-kind"], ["-id"], ["created_at", "id"]):
        found = rows.select(FlowInbox, where={"flow_run": flow_run.pk}, order_by=order_by)
        expected = FlowInbox.objects.filter(flow_run=flow_run).order_by(*order_by)
        assert [i.pk for i in found] == [i.pk for i in expected]


def test_insert_writes_what_bulk_create_writes(task_run: TaskRun) -> None:
    # given unsaved timeline entries (a database-made key) with JSON and quotes
    order = task_run.order
    before = set(OrderEvent.objects.filter(order=order).values_list("pk", flat=True))
    data = {"quote": 'it\'s "x"', "list": [1, 2.5, None], "nested": {"é": True}}
    events = [
        OrderEvent(order=order, kind=f"test.{i}", message=f"m{i}", data=data, actor="me")
        for i in range(3)
    ]
    # when inserted in one call
    rows.insert(events)
    # then the rows are there, in that order, with created_at set, and marked saved
    new = OrderEvent.objects.filter(order=order).exclude(pk__in=before).order_by("pk")
    assert [(e.kind, e.message, e.data, e.actor) for e in new] == [
        (f"test.{i}", f"m{i}", data, "me") for i in range(3)
    ]
    assert all(e.created_at is not None for e in new)
    assert all(e._state.adding is False for e in events)


def test_insert_keeps_keys_set_in_python_and_batches(task_run: TaskRun) -> None:
    # given more task runs than one statement takes on SQLite (999 variables / 19 columns)
    template = _fields(task_run, [c for c in COLUMNS if c not in ("id", "created_at")])
    new = [TaskRun(**{**template, "key": f"k{i}"}) for i in range(120)]
    # when inserted
    rows.insert(new)
    # then every row is stored under the key made in Python
    stored = dict(TaskRun.objects.filter(pk__in=[r.pk for r in new]).values_list("pk", "key"))
    assert stored == {r.pk: r.key for r in new}
    rows.insert([])  # nothing to write is no statement


def test_add_raises_a_column_by_an_amount(task_run: TaskRun) -> None:
    flow_run = task_run.flow_run
    FlowRun.objects.filter(pk=flow_run.pk).update(wake_seq=3)
    # a condition on the column that is raised compares its old value
    assert rows.update(FlowRun, flow_run.pk, {"wake_seq": rows.Add(2)}, wake_seq=4) == 0
    assert rows.update(FlowRun, flow_run.pk, {"wake_seq": rows.Add(2)}, wake_seq=3) == 1
    assert FlowRun.objects.get(pk=flow_run.pk).wake_seq == 5


def test_for_update_locks_where_the_database_has_row_locks(task_run: TaskRun) -> None:
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        found = rows.select(TaskRun, where={"pk": task_run.pk}, for_update=True)
    assert [r.pk for r in found] == [task_run.pk]
    locked = queries.captured_queries[-1]["sql"].endswith("FOR UPDATE")
    assert locked == connection.features.has_select_for_update


def test_related_rows_are_read_in_the_same_statement(
    task_run: TaskRun, django_assert_num_queries: Any
) -> None:
    # given a task run of an order of a space of an organization
    expected = TaskRun.objects.select_related("order__space__organization").get(pk=task_run.pk)
    related = ("order", "order__space", "order__space__organization")
    # when it is read with its foreign keys followed
    with django_assert_num_queries(1):
        [run] = rows.select(TaskRun, where={"pk": task_run.pk}, related=related)
        order, space = run.order, run.order.space
        organization = space.organization
    # then every level holds what select_related reads
    assert _fields(run, COLUMNS) == _fields(expected, COLUMNS)
    assert _fields(order, ORDER_COLUMNS) == _fields(expected.order, ORDER_COLUMNS)
    assert (space.pk, space.key, space.signing_secret) == (
        expected.order.space.pk,
        expected.order.space.key,
        expected.order.space.signing_secret,
    )
    assert (organization.pk, organization.name) == (
        expected.order.space.organization.pk,
        expected.order.space.organization.name,
    )


def test_a_null_foreign_key_reads_as_none(task_run: TaskRun) -> None:
    # given inbox items of the flow run with and without a task run (the start item has none)
    FlowInbox.objects.create(flow_run=task_run.flow_run, task_run=task_run, kind="complete")
    # when read with the task run followed
    items = rows.select(
        FlowInbox, where={"flow_run": task_run.flow_run_id}, related=("task_run",), order_by=("id",)
    )
    # then the item without one has None, the other its task run
    assert [(i.kind, i.task_run.pk if i.task_run else None) for i in items] == [
        ("start", None),
        ("complete", task_run.pk),
    ]


def test_for_update_with_related_locks_only_the_main_rows(task_run: TaskRun) -> None:
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        [run] = rows.select(TaskRun, where={"pk": task_run.pk}, for_update=True, related=("order",))
    assert run.order.pk == task_run.order_id
    locked = queries.captured_queries[-1]["sql"].endswith("FOR UPDATE OF t0")
    assert locked == connection.features.has_select_for_update


def test_a_foreign_key_path_must_name_foreign_keys(task_run: TaskRun) -> None:
    with pytest.raises(ValueError, match="not a foreign key"):
        rows.select(TaskRun, where={"pk": task_run.pk}, related=("key",))
    with pytest.raises(ValueError, match="name 'order' before"):
        rows.select(TaskRun, where={"pk": task_run.pk}, related=("order__space",))


@ON_POSTGRESQL
def test_postgresql_runs_the_statements_prepared(task_run: TaskRun) -> None:
    from django.db import connection

    # when a statement shape runs (outside any query capture)
    rows.select(FlowInbox, where={"task_run": task_run.pk, "kind": "prepared-probe"})
    # then the server holds it as a prepared statement of this session
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [statement for (statement,) in cursor.fetchall()]
    assert any('FROM "flows_flowinbox" t0' in s and "$2" in s for s in prepared)


@ON_POSTGRESQL
def test_database_errors_of_prepared_statements_are_djangos(task_run: TaskRun) -> None:
    from django.db import IntegrityError, transaction

    # given a task run whose key is taken; when it is inserted again
    copy = TaskRun(**_fields(task_run, COLUMNS))
    # then the error is Django's IntegrityError (the API turns it into a 409), and the
    # transaction around it can go on after its savepoint is rolled back
    with transaction.atomic():
        with pytest.raises(IntegrityError), transaction.atomic():
            rows.insert([copy])
        assert rows.select(TaskRun, where={"pk": task_run.pk})[0].key == task_run.key
