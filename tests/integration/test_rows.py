"""The engine's single-row UPDATEs write what the ORM's update() writes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from fabflow.flows.engine import rows
from fabflow.flows.engine.runner import advance
from fabflow.flows.models import FlowRun, TaskRun
from fabflow.flows.services import create_flow
from fabflow.orders.models import Order
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
