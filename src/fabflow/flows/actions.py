"""Actions on running flows: start, complete a manual task, feedback, retry, restart."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from fabflow.core import rows
from fabflow.core.problems import ApiError, invalid
from fabflow.flows.engine import events
from fabflow.flows.handlers import registry
from fabflow.flows.models import FlowInbox, FlowRun, TaskRun
from fabflow.orders.models import Order, OrderStatus, Part
from fabflow.orders.services import (
    attach_assets,
    record_event,
    record_flow_assigned,
    resolve_flow,
)
from fabflow.orders.updates import queue_update

TERMINAL_FEEDBACK = ("success", "failure")


def start_order_flow(*, order: Order, flow_key: str | None, actor: str) -> FlowRun:
    """Start the order's flow (its pinned version, or `flow_key`'s latest)."""
    with transaction.atomic():
        order = Order.objects.select_for_update().select_related("space").get(pk=order.pk)
        if order.status != OrderStatus.CREATED or FlowRun.objects.filter(order=order).exists():
            raise ApiError(409, "The order's flow has already started.")
        version = resolve_flow(order.space, flow_key) if flow_key else order.flow_version
        if version is None:
            raise invalid(("body", "flowKey"), "the order has no flow; give a flowKey")
        if version != order.flow_version:
            order.flow_version = version
            order.save(update_fields=["flow_version", "updated_at"])
            record_flow_assigned(order, version, actor)
        return events.start_flow(order=order, version=version, actor=actor)


def _waiting(run: TaskRun) -> None:
    if run.state in (TaskRun.State.SUCCEEDED, TaskRun.State.FAILED, TaskRun.State.CANCELLED):
        raise ApiError(409, f"The task has already ended ({run.state}).")
    ending = {
        "task_run": run.pk,
        "processed_at": None,
        "kind": ["complete", "confirm", "feedback-end"],
    }
    if rows.select(FlowInbox, where=ending):
        raise ApiError(409, "The task has already been completed.")


def complete_task(*, run: TaskRun, outcome: str, comment: str, actor: str) -> FlowInbox:
    if run.handler_key != "manual-task":
        raise ApiError(409, "Only manual tasks are completed by hand.")
    with transaction.atomic():
        run = TaskRun.objects.select_for_update().select_related("flow_run").get(pk=run.pk)
        _waiting(run)
        handler = registry.get(run.handler_key)
        payload = _payload(run)
        problem = handler.check_outcome(payload, outcome) if handler else None  # type: ignore[attr-defined]
        if problem:
            raise invalid(("body", "outcome"), problem)
        record_event(
            run.order,
            "task.completed",
            f"Task {run.key} completed: {outcome}",
            actor=actor,
            data={"taskRunId": str(run.id), "outcome": outcome, "comment": comment},
        )
        return events.post(
            run.flow_run_id,
            "complete",
            task_run=run,
            actor=actor,
            data={"outcome": outcome, "comment": comment},
        )


def confirm_task(*, run: TaskRun, actor: str) -> FlowInbox:
    with transaction.atomic():
        run = TaskRun.objects.select_for_update().select_related("flow_run").get(pk=run.pk)
        _waiting(run)
        record_event(
            run.order,
            "task.confirmed",
            f"Task {run.key} confirmed",
            actor=actor,
            data={"taskRunId": str(run.id)},
        )
        return events.post(run.flow_run_id, "confirm", task_run=run, actor=actor)


def accept_feedback(*, run_id: str, feedback: dict[str, Any], actor: str) -> None:
    """Record connector feedback; `success`/`failure` end the task (once)."""
    with transaction.atomic():
        # Locking the task run serializes feedback for it: a second end waits, then sees the
        # first in the inbox. Plain statements (core.rows): connectors call this once a task.
        found = rows.select(TaskRun, where={"pk": run_id}, for_update=True, related=("order",))
        if not found:
            raise ApiError(404, "Unknown feedback link.")
        run = found[0]
        if run.handler_key != "consume-rest-api":
            raise ApiError(409, "This task does not take connector feedback.")
        _waiting(run)
        if feedback["manufacturingData"]:
            _merge_manufacturing_data(run.order, feedback["manufacturingData"])
        if feedback["assets"]:
            attach_assets(
                order=run.order, specs=feedback["assets"], actor=actor, loc=("body", "assets")
            )
        relay_feedback(run, {k: v for k, v in feedback.items() if k != "assets"})
        if feedback["status"] in TERMINAL_FEEDBACK:
            events.post(
                run.flow_run_id,
                "feedback-end",
                task_run=run,
                actor=actor,
                data={
                    "kind": "feedback",
                    "status": feedback["status"],
                    "message": feedback["message"],
                    "data": feedback["data"],
                },
            )


def relay_feedback(run: TaskRun, feedback: dict[str, Any]) -> None:
    """Record connector feedback on the timeline and relay it to the updateUrl."""
    record_event(
        run.order,
        "connector.feedback",
        f"Feedback for {run.key}: {feedback.get('status')}",
        data={"taskRunId": str(run.id), **feedback},
    )
    queue_update(run.order, "order.feedback", feedback=feedback)


def _merge_manufacturing_data(order: Order, by_part: dict[str, dict[str, Any]]) -> None:
    parts = {str(p.id): p for p in Part.objects.filter(order=order, pk__in=list(by_part))}
    for part_id, values in by_part.items():
        part = parts.get(part_id)
        if part is None:
            raise invalid(("body", "manufacturingData", part_id), "no such part in this order")
        part.manufacturing_data = {**part.manufacturing_data, **values}
        part.save(update_fields=["manufacturing_data"])


def retry_task(*, run: TaskRun, actor: str) -> FlowInbox:
    if run.state != TaskRun.State.FAILED:
        raise ApiError(409, "Only a failed task can be retried.")
    return events.post(run.flow_run_id, "retry", task_run=run, actor=actor)


def restart_flow(*, order: Order, actor: str) -> FlowInbox:
    flow_run = FlowRun.objects.filter(order=order).first()
    if flow_run is None:
        raise ApiError(409, "The order's flow has not started.")
    return events.post(flow_run.pk, "restart", actor=actor)


def _payload(run: TaskRun) -> Any:
    from fabflow.flows.engine.store import definition_of

    definition = definition_of(run.flow_run.flow_version)
    task = definition.task(run.stage, run.key)
    handler = registry.get(run.handler_key)
    return handler.payload_model.model_validate(task.payload) if handler else task.payload
