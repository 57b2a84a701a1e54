"""Producers of engine work: starting a flow and posting outside events for a flow run."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from fabflow.core import rows
from fabflow.flows.engine.claims import notify, wake
from fabflow.flows.models import FlowInbox, FlowRun, FlowVersion, TaskRun
from fabflow.orders.models import Order


def start_flow(*, order: Order, version: FlowVersion, actor: str = "") -> FlowRun:
    """Create the order's flow run, due at once for a worker to start (in the caller's atomic)."""
    flow_run = FlowRun(order=order, flow_version=version, due_at=timezone.now())
    rows.insert([flow_run])
    rows.insert([FlowInbox(flow_run=flow_run, kind="start", actor=actor)])
    notify()
    return flow_run


def post(
    flow_run_id: Any,
    kind: str,
    *,
    task_run: TaskRun | None = None,
    data: dict[str, Any] | None = None,
    actor: str = "",
) -> FlowInbox:
    """Queue an outside event (feedback, complete, confirm, retry, restart) for the flow run.
    The item's id is not read back (the worker reads the inbox)."""
    item = FlowInbox(
        flow_run_id=flow_run_id, task_run=task_run, kind=kind, data=data or {}, actor=actor
    )
    rows.insert([item])
    wake(flow_run_id)
    return item
