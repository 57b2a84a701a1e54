"""What the flows app plugs into orders (`orders/hooks.py`): flow keys at intake, starting a
new order's flow, the task runs of the order's JSON, and the order page's flow section."""

from __future__ import annotations

from typing import Any

from fabflow.accounts.models import Space
from fabflow.orders.hooks import FlowChoice
from fabflow.orders.models import Order


class FlowsForOrders:
    def flow_for(self, *, space: Space, flow_key: str) -> FlowChoice:
        from fabflow.flows.selectors import active_version

        version = active_version(space=space, name=flow_key)
        return FlowChoice(key=flow_key, version=version.number, handle=version)

    def start(self, *, order: Order, flow: FlowChoice, actor: str) -> None:
        from fabflow.flows.engine.store import start_flow

        start_flow(order=order, version=flow.handle, actor=actor)

    def tasks_json(self, order: Order) -> list[dict[str, Any]]:
        from fabflow.flows.models import TaskRun
        from fabflow.flows.serializers import task_json

        runs = TaskRun.objects.filter(order=order).select_related("flow_run__flow_version")
        return [task_json(run) for run in runs.order_by("created_at", "id")]
