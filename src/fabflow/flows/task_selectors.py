"""Reads of task runs and flow runs: scoped to a principal, an order or a signed link."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db.models import QuerySet

from fabflow.accounts.auth import Principal
from fabflow.flows.models import FlowRun, TaskRun
from fabflow.orders.models import Order


def tasks_for(who: Principal) -> QuerySet[TaskRun]:
    """The task runs of the orders `who` may see, with what their JSON needs."""
    return TaskRun.objects.filter(
        **who.order_filter("order__", own_organization=False)
    ).select_related("flow_run__flow_version", "order")


def task_list(
    who: Principal, *, order_id: UUID | None, state: str | None, limit: int
) -> list[TaskRun]:
    """The newest `limit` task runs `who` may see, of one order or in one state if given."""
    qs = tasks_for(who)
    if order_id:
        qs = qs.filter(order_id=order_id)
    if state:
        qs = qs.filter(state=state)
    return list(qs.order_by("-created_at")[:limit])


def confirmation_task(run_id: Any) -> TaskRun | None:
    """The task run a signed confirmation link names (the signature is the scope), with
    its order."""
    if not run_id:
        return None
    return TaskRun.objects.select_related("order").filter(pk=run_id).first()


def order_task(*, order: Order, task_id: UUID) -> TaskRun:
    """One task run of the (already scoped) order; `TaskRun.DoesNotExist` otherwise."""
    return TaskRun.objects.get(order=order, pk=task_id)


def order_task_runs(order: Order) -> list[TaskRun]:
    """All task runs of the (already scoped) order, oldest first, with their flow."""
    return list(
        TaskRun.objects.filter(order=order)
        .select_related("flow_run__flow_version__flow")
        .order_by("created_at")
    )


def order_flow_run(order: Order) -> FlowRun | None:
    """The (already scoped) order's flow run with its version and flow, if it has one."""
    return FlowRun.objects.filter(order=order).select_related("flow_version__flow").first()
