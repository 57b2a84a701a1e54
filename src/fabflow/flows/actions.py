"""Actions on running flows: start, complete a manual task, feedback, retry, restart."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.db import transaction

from fabflow.core.errors import Conflict, Invalid, NotFound
from fabflow.flows.engine import store
from fabflow.flows.engine.store import InboxKind
from fabflow.flows.handlers.builtin import ManualTask
from fabflow.flows.handlers.payloads import ManualTaskPayload
from fabflow.flows.models import FlowInbox, FlowRun, TaskRun
from fabflow.flows.selectors import active_version, named_version
from fabflow.flows.task_selectors import task_payload
from fabflow.orders import timeline
from fabflow.orders.models import Order, OrderEvent, OrderStatus
from fabflow.orders.services import (
    assign_flow,
    attach_assets,
    merge_manufacturing_data,
)
from fabflow.orders.timeline import EventKind

TERMINAL_FEEDBACK = ("success", "failure")


def start_order_flow(*, order: Order, flow_key: str | None, actor: str) -> FlowRun:
    """Start the order's flow (its pinned version, or `flow_key`'s latest)."""
    with transaction.atomic():
        order = Order.objects.select_for_update().select_related("space").get(pk=order.pk)
        if order.status != OrderStatus.CREATED or FlowRun.objects.filter(order=order).exists():
            raise Conflict("The order's flow has already started.")
        if flow_key:
            version = active_version(space=order.space, name=flow_key)
        elif order.flow_key:
            number = order.flow_version_number
            version = named_version(space=order.space, name=order.flow_key, number=number)
        else:
            raise Invalid("the order has no flow; give a flowKey", field=("body", "flowKey"))
        if (order.flow_key, order.flow_version_number) != (version.flow.name, version.number):
            assign_flow(
                order=order, flow_key=version.flow.name, version=version.number, actor=actor
            )
        return store.start_flow(order=order, version=version, actor=actor)


def _waiting(run: TaskRun) -> None:
    if run.state in (TaskRun.State.SUCCEEDED, TaskRun.State.FAILED, TaskRun.State.CANCELLED):
        raise Conflict(f"The task has already ended ({run.state}).")
    if store.has_ending_event(run):
        raise Conflict("The task has already been completed.")


def complete_task(*, run: TaskRun, outcome: str, comment: str, actor: str) -> FlowInbox:
    if run.handler_key != "manual-task":
        raise Conflict("Only manual tasks are completed by hand.")
    with transaction.atomic():
        run = TaskRun.objects.select_for_update().select_related("flow_run").get(pk=run.pk)
        _waiting(run)
        payload = ManualTaskPayload.model_validate(task_payload(run))
        problem = ManualTask().check_outcome(payload, outcome)
        if problem:
            raise Invalid(problem, field=("body", "outcome"))
        timeline.record(
            run.order,
            EventKind.TASK_COMPLETED,
            f"Task {run.key} completed: {outcome}",
            actor=actor,
            data={"taskRunId": str(run.id), "outcome": outcome, "comment": comment},
        )
        return store.post(
            run.flow_run_id,
            InboxKind.COMPLETE,
            task_run=run,
            actor=actor,
            data={"outcome": outcome, "comment": comment},
        )


def confirm_task(*, run: TaskRun, actor: str, reason: str = "", skip: bool = False) -> FlowInbox:
    """End a waiting `asset-email` confirmation: confirmed (by the customer's link, or staff on
    their behalf), or skipped by staff; the task succeeds either way and the flow goes on."""
    if run.handler_key != "asset-email":
        raise Conflict("Only asset-email tasks wait for a confirmation.")
    with transaction.atomic():
        run = TaskRun.objects.select_for_update().select_related("flow_run").get(pk=run.pk)
        _waiting(run)
        if run.state != TaskRun.State.WAITING or run.wake_at is not None:  # not yet sent
            raise Conflict("The task does not wait for a confirmation yet.")
        outcome = "skipped" if skip else "confirmed"
        timeline.record(
            run.order,
            EventKind.TASK_COMPLETED if skip else EventKind.TASK_CONFIRMED,
            f"Confirmation {run.key} {outcome}" + (f": {reason}" if reason else ""),
            actor=actor,
            data={"taskRunId": str(run.id), "outcome": outcome, "reason": reason},
        )
        data = {"outcome": outcome, "reason": reason}
        return store.post(run.flow_run_id, InboxKind.CONFIRM, task_run=run, actor=actor, data=data)


def accept_feedback(*, run_id: str, feedback: dict[str, Any], actor: str) -> None:
    """Record connector feedback; `success`/`failure` end the task (once)."""
    with transaction.atomic():
        # Locking the task run serializes feedback for it: a second end waits, then sees the
        # first in the inbox.
        run = store.lock_task_run(run_id)
        if run is None:
            raise NotFound("Unknown feedback link.")
        if run.handler_key != "consume-rest-api":
            raise Conflict("This task does not take connector feedback.")
        _waiting(run)
        if feedback["manufacturingData"]:
            merge_manufacturing_data(
                order=run.order,
                by_part=feedback["manufacturingData"],
                loc=("body", "manufacturingData"),
            )
        if feedback["assets"]:
            attach_assets(
                order=run.order, specs=feedback["assets"], actor=actor, loc=("body", "assets")
            )
        relayed = {k: v for k, v in feedback.items() if k != "assets"}
        timeline.record(
            run.order,
            EventKind.CONNECTOR_FEEDBACK,
            f"Feedback for {run.key}: {feedback['status']}",
            data={"taskRunId": str(run.id), **relayed},
        )
        timeline.queue_update(run.order, EventKind.ORDER_FEEDBACK, feedback=relayed)
        if feedback["status"] in TERMINAL_FEEDBACK:
            store.post(
                run.flow_run_id,
                InboxKind.FEEDBACK_END,
                task_run=run,
                actor=actor,
                data={
                    "kind": "feedback",
                    "status": feedback["status"],
                    "message": feedback["message"],
                    "data": feedback["data"],
                },
            )


def accept_partner_event(
    *,
    run_id: str,
    handler_key: str,
    event: dict[str, Any],
    event_key: str,
    ends: Callable[[Mapping[str, Any]], bool],
    actor: str,
) -> bool:
    """Record a partner's event (a postback) for a task run of `handler_key` that has not
    ended; when `ends(the task's payload)` says the event ends the task, queue it for the
    engine, whose handler's `on_event` decides the outcome. The partner may send an event
    twice: one already recorded under `event_key` records nothing and returns False. A task that
    ended, or whose ending event waits in the inbox, is NotFound: its address is used up."""
    with transaction.atomic():
        run = store.lock_task_run(run_id)
        if run is None or run.handler_key != handler_key:
            raise NotFound("Unknown postback address.")
        if run.state not in (TaskRun.State.RUNNING, TaskRun.State.WAITING):
            raise NotFound("The task has ended; this postback address is used up.")
        recorded = OrderEvent.objects.filter(
            order_id=run.order_id,
            kind=EventKind.CONNECTOR_FEEDBACK,
            data__taskRunId=str(run.id),
            data__eventKey=event_key,
        )
        if recorded.exists():
            return False
        if store.has_ending_event(run):
            raise NotFound("The task has ended; this postback address is used up.")
        timeline.record(
            run.order,
            EventKind.CONNECTOR_FEEDBACK,
            f"Partner update for {run.key}: {event.get('status') or 'no status'}",
            actor=actor,
            data={"taskRunId": str(run.id), "eventKey": event_key, **event},
        )
        if ends(task_payload(run)):
            data = {"kind": "partner-event", "taskResult": dict(run.result), **event}
            store.post(
                run.flow_run_id, InboxKind.FEEDBACK_END, task_run=run, actor=actor, data=data
            )
        return True


def retry_task(*, run: TaskRun, actor: str) -> FlowInbox:
    if run.state != TaskRun.State.FAILED:
        raise Conflict("Only a failed task can be retried.")
    return store.post(run.flow_run_id, InboxKind.RETRY, task_run=run, actor=actor)


def restart_flow(*, order: Order, actor: str) -> FlowInbox:
    flow_run = FlowRun.objects.filter(order=order).first()
    if flow_run is None:
        raise Conflict("The order's flow has not started.")
    return store.post(flow_run.pk, InboxKind.RESTART, actor=actor)
