"""What the flows app plugs into orders (`orders/hooks.py`): flow keys at intake, starting a
new order's flow, the task runs of the order's JSON, and the order page's flow section."""

from __future__ import annotations

from typing import Any

from fabflow.accounts.models import Space
from fabflow.core.errors import Invalid
from fabflow.orders.models import Order


class FlowsForOrders:
    def flow_for(self, *, space: Space, flow_key: str) -> Any:
        from fabflow.flows.selectors import latest_version

        version = latest_version(space=space, name=flow_key)
        if version is None:
            raise Invalid(
                f"space {space.key} has no active flow {flow_key!r}", field=("body", "flowKey")
            )
        return version

    def start(self, *, order: Order, flow: Any, actor: str) -> None:
        from fabflow.flows.engine.store import start_flow

        start_flow(order=order, version=flow, actor=actor)

    def tasks_json(self, order: Order) -> list[dict[str, Any]]:
        from fabflow.flows.models import TaskRun
        from fabflow.flows.serializers import task_json

        runs = TaskRun.objects.filter(order=order).select_related("flow_run__flow_version")
        return [task_json(run) for run in runs.order_by("created_at", "id")]
