"""Flows and task runs as API objects."""

from __future__ import annotations

from typing import Any

from fabflow.core.templating import render
from fabflow.flows.models import Flow, FlowVersion, TaskRun
from fabflow.flows.selectors import current_version
from fabflow.flows.task_selectors import task_payload


def flow_json(flow: Flow, version: FlowVersion | None = None) -> dict[str, Any]:
    """A flow with its current definition (pass `version` when it is already loaded)."""
    version = version or current_version(flow)
    return {
        "id": flow.id,
        "spaceKey": flow.space.key,
        "name": flow.name,
        "version": flow.current_version,
        "archived": flow.archived,
        "createdAt": flow.created_at,
        "updatedAt": flow.updated_at,
        "definition": version.definition,
    }


def is_retrying(run: TaskRun) -> bool:
    """A started run whose last delivery failed transiently: it waits for its next attempt."""
    return run.state == TaskRun.State.RUNNING and run.wake_at is not None and bool(run.reason)


def task_json(run: TaskRun) -> dict[str, Any]:
    payload = task_payload(run)
    retrying = is_retrying(run)
    return {
        "id": run.id,
        "orderId": run.order_id,
        "key": run.key,
        "handlerKey": run.handler_key,
        "stage": run.stage,
        "attempt": run.attempt,
        "state": run.state,
        "timedOut": run.timed_out,
        "reason": run.reason,
        "result": run.result,
        "title": _title(run, payload),
        "outcomes": list(
            payload.get("outcomes") or (["done"] if run.handler_key == "manual-task" else [])
        ),
        "createdAt": run.created_at,
        "startedAt": run.started_at,
        "finishedAt": run.finished_at,
        "timeoutAt": run.timeout_at,
        # A transient failure waiting for its next attempt: the handler calls so far, when
        # the next one is due, and the last error (also `reason`).
        "retrying": retrying,
        "deliveries": run.deliveries,
        "nextAttemptAt": run.wake_at if retrying else None,
        "lastError": run.reason if retrying else "",
    }


def _title(run: TaskRun, payload: dict[str, Any]) -> str:
    """The task's title with the order's own fields filled in (no other lookups)."""
    text = str(payload.get("title") or payload.get("subject") or run.key)
    if "{" not in text:
        return text
    order = run.order
    context = {
        "order": {
            "name": order.name,
            "id": str(order.id),
            "status": order.status,
            "thirdPartyOrderId": order.third_party_order_id,
        },
        "customerEmail": order.customer_email,
        "customerInfo": order.customer_info,
    }
    try:
        return render(text, context, html=False, header=False)[0]
    except ValueError:
        return text
