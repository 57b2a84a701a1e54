"""The kinds of order timeline entries and updateUrl deliveries (no Django: the interpreter uses
them). `orders/timeline.py` writes both; its `EventKind` is this one."""

from __future__ import annotations

from enum import StrEnum


class EventKind(StrEnum):
    """What a timeline entry records. The values are stored and served by the API (the
    timeline, the `event` of an updateUrl delivery): they never change."""

    ORDER_CREATED = "order.created"
    ORDER_STATUS_CHANGED = "order.status_changed"  # also an updateUrl delivery's event
    ORDER_FEEDBACK = "order.feedback"  # an updateUrl delivery's event only
    FLOW_ASSIGNED = "flow.assigned"
    FLOW_STARTED = "flow.started"
    FLOW_SUCCEEDED = "flow.succeeded"
    FLOW_FAILED = "flow.failed"
    FLOW_RESTARTED = "flow.restarted"
    STAGE_STARTED = "stage.started"
    TASK_STARTED = "task.started"  # also the `event` of a connector's request
    TASK_SUCCEEDED = "task.succeeded"
    TASK_FAILED = "task.failed"
    TASK_TIMED_OUT = "task.timed_out"
    TASK_RETRIED = "task.retried"
    TASK_WAITING = "task.waiting"
    TASK_RETRY_SCHEDULED = "task.retry_scheduled"
    TASK_COMPLETED = "task.completed"
    TASK_CONFIRMED = "task.confirmed"
    ASSET_ADDED = "asset.added"
    ASSET_FETCHED = "asset.fetched"
    ASSET_FETCH_FAILED = "asset.fetch_failed"
    CONNECTOR_FEEDBACK = "connector.feedback"
    TEMPLATE_MISSING = "template.missing"
    ACTION_REJECTED = "action.rejected"


# What the order page calls each kind ("Task retry scheduled"): never the stored value.
LABELS = {kind.value: kind.name.replace("_", " ").capitalize() for kind in EventKind}
