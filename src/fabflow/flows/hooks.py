"""What the flows app plugs into orders (`orders/hooks.py`): flow keys at intake, starting a
new order's flow, the task runs of the order's JSON, the orders table's current steps and
startable flows, and the order page's flow section."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fabflow.accounts.models import Space
from fabflow.flows.engine.store import start_flow
from fabflow.flows.models import Flow, FlowRun, TaskRun
from fabflow.flows.selectors import active_version, version
from fabflow.flows.serializers import task_json
from fabflow.flows.task_selectors import order_task_runs
from fabflow.orders.hooks import FlowChoice
from fabflow.orders.models import Order


class FlowsForOrders:
    def flow_for(self, *, space: Space, flow_key: str) -> FlowChoice:
        version = active_version(space=space, name=flow_key)
        return FlowChoice(key=flow_key, version=version.number, handle=version)

    def start(self, *, order: Order, flow: FlowChoice, actor: str) -> None:
        start_flow(order=order, version=flow.handle, actor=actor)

    def tasks_json(self, order: Order) -> list[dict[str, Any]]:
        return [task_json(run) for run in order_task_runs(order)]

    def current_steps(self, order_ids: Iterable[Any]) -> dict[Any, str]:
        ids = list(order_ids)
        # The tasks not done yet, by order, stage and generation (a failed one is where a
        # failed flow stopped; a retried one is listed once).
        tasks: dict[tuple[Any, int, int], dict[str, None]] = {}
        open_ = ("pending", "running", "waiting", "failed")
        rows = TaskRun.objects.filter(order_id__in=ids, state__in=open_)
        for order_id, key, stage, generation in rows.values_list(
            "order_id", "key", "stage", "generation"
        ):
            tasks.setdefault((order_id, stage, generation), {})[key] = None
        runs = FlowRun.objects.filter(order_id__in=ids).values_list(
            "order_id", "status", "stage", "generation", "flow_version_id"
        )
        steps = {}
        for order_id, status, stage, generation, version_id in runs:
            if status == FlowRun.Status.SUCCEEDED:
                steps[order_id] = "Done"
                continue
            stages = version(version_id).definition
            step = stages[stage]["name"] if stage < len(stages) else ""
            if keys := tasks.get((order_id, stage, generation)):
                step = f"{step} › {', '.join(keys)}"  # noqa: RUF001
            steps[order_id] = f"Failed: {step}" if status == FlowRun.Status.FAILED else step
        return steps

    def flow_names(self, space_ids: Iterable[Any]) -> dict[Any, list[str]]:
        names: dict[Any, list[str]] = {}
        active = Flow.objects.filter(space_id__in=list(space_ids), archived=False)
        for space_id, name in active.order_by("name").values_list("space_id", "name"):
            names.setdefault(space_id, []).append(name)
        return names
