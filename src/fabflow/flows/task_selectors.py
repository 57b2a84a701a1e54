"""Reads of task runs and flow runs: scoped to a principal, an order or a signed link."""

from __future__ import annotations

from itertools import islice
from typing import Any
from uuid import UUID

from django.db.models import F, QuerySet

from fabflow.accounts.auth import Principal
from fabflow.accounts.models import Organization
from fabflow.flows.models import FlowRun, TaskRun
from fabflow.orders.models import Order

# What the Tasks page lists (an asset-email waits for a person when it waits for its confirmation).
PEOPLE_TASKS = ("manual-task", "asset-email")
# Handlers whose side effects a restart repeats (e-mails and connector calls).
SIDE_EFFECTS = ("send-email", "asset-email", "consume-rest-api")
MAX_WORKLIST = 500


def tasks_for(who: Principal) -> QuerySet[TaskRun]:
    """The task runs of the orders `who` may see, with what their JSON needs."""
    return TaskRun.objects.filter(
        **who.order_filter("order__", own_organization=False)
    ).select_related("flow_run__flow_version", "order")


def task_list(
    who: Principal, *, order_id: UUID | None, state: str | None, limit: int
) -> list[TaskRun]:
    qs = tasks_for(who)
    if order_id:
        qs = qs.filter(order_id=order_id)
    if state:
        qs = qs.filter(state=state)
    return list(qs.order_by("-created_at")[:limit])


def task_payload(run: TaskRun) -> dict[str, Any]:
    """The payload of the run's task definition in its flow version (no query once loaded)."""
    for task in run.flow_run.flow_version.definition[run.stage]["taskDefinitions"]:
        if task["key"] == run.key:
            return dict(task.get("payload") or {})
    return {}


def _waiting_for_people(qs: QuerySet[TaskRun]) -> QuerySet[TaskRun]:
    # A timer (`wake_at`) means the task waits for itself: an asset-email for its URL assets.
    return qs.filter(state=TaskRun.State.WAITING, handler_key__in=PEOPLE_TASKS, wake_at=None)


def confirmations(runs: list[TaskRun]) -> list[TaskRun]:
    """Those of `runs` that wait for their customer's confirmation (e-mail sent, no timer)."""
    return [
        r for r in runs if r.handler_key == "asset-email" and r.state == "waiting" and not r.wake_at
    ]


def worklist(who: Principal, *, tags: list[str] | None = None) -> list[TaskRun]:
    """Waiting manual tasks and confirmations `who` may see, oldest order deadline first (no
    deadline last). With `tags`: only manual tasks whose `assigneeTags` share one of them."""
    qs = _waiting_for_people(tasks_for(who)).order_by(
        F("order__deadline").asc(nulls_last=True), "created_at"
    )
    if tags is None:
        return list(qs[:MAX_WORKLIST])
    # The tags are in the flow version's payload, not a column: filter, then cap.
    mine = (r for r in qs.iterator() if set(task_payload(r).get("assigneeTags") or ()) & set(tags))
    return list(islice(mine, MAX_WORKLIST))


def waiting_count(organization: Organization) -> int:
    return _waiting_for_people(TaskRun.objects.filter(order__organization=organization)).count()


def repeated_side_effects(order: Order) -> list[TaskRun]:
    """The runs of the (already scoped) order's current flow generation that sent e-mail or
    called a connector: a restart does these again. One per task key."""
    runs = TaskRun.objects.filter(
        order=order,
        flow_run__generation=F("generation"),
        handler_key__in=SIDE_EFFECTS,
        started_at__isnull=False,
    ).select_related("flow_run__flow_version", "order")
    return list({r.key: r for r in runs.order_by("stage", "created_at")}.values())


def confirmation_task(run_id: Any) -> TaskRun | None:
    """The task run a signed confirmation link names (the signature is the scope)."""
    if not run_id:
        return None
    return TaskRun.objects.select_related("order").filter(pk=run_id).first()


def order_task_runs(order: Order) -> list[TaskRun]:
    """All task runs of the (already scoped) order, oldest first, with their flow."""
    return list(
        TaskRun.objects.filter(order=order)
        .select_related("flow_run__flow_version__flow")
        .order_by("created_at", "id")
    )


def order_flow_run(order: Order) -> FlowRun | None:
    """The (already scoped) order's flow run with its version and flow, if it has one."""
    return FlowRun.objects.filter(order=order).select_related("flow_version__flow").first()
