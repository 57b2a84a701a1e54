"""Flows app: order flow definitions, their versions, the engine and its handlers."""

from django.apps import AppConfig


class FlowsConfig(AppConfig):
    name = "fabflow.flows"
    label = "flows"

    def ready(self) -> None:
        # Orders never import flows: this app hands them its hooks (orders/hooks.py).
        from fabflow.flows.hooks import FlowsForOrders
        from fabflow.flows.views import order_panel
        from fabflow.orders import hooks

        hooks.register_flows(FlowsForOrders())
        hooks.register_page_section(order_panel)
