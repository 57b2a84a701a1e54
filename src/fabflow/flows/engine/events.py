"""Producers of engine work: starting a flow and posting outside events for a flow run."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from fabflow.flows.models import FlowInbox, FlowRun, FlowVersion, TaskRun
from fabflow.orders.models import Order


def _wake(flow_run: FlowRun) -> None:
    FlowRun.objects.filter(pk=flow_run.pk).update(due_at=timezone.now())
    run_id = str(flow_run.pk)

    def enqueue() -> None:
        from fabflow.flows.jobs import advance_flow

        advance_flow.enqueue(run_id)

    transaction.on_commit(enqueue)


def start_flow(*, order: Order, version: FlowVersion, actor: str = "") -> FlowRun:
    """Create the order's flow run and ask a worker to start it (in the caller's atomic)."""
    flow_run = FlowRun.objects.create(order=order, flow_version=version)
    FlowInbox.objects.create(flow_run=flow_run, kind="start", actor=actor)
    _wake(flow_run)
    return flow_run


def post(
    flow_run: FlowRun,
    kind: str,
    *,
    task_run: TaskRun | None = None,
    data: dict[str, Any] | None = None,
    actor: str = "",
) -> FlowInbox:
    """Queue an outside event (feedback, complete, confirm, retry, restart) for the flow run."""
    item = FlowInbox.objects.create(
        flow_run=flow_run, task_run=task_run, kind=kind, data=data or {}, actor=actor
    )
    _wake(flow_run)
    return item
