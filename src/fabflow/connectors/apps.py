"""Connectors app: per-space connections to partners and the handlers that speak their APIs."""

from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    name = "fabflow.connectors"
    label = "connectors"

    def ready(self) -> None:
        """Each partner module registers here its handlers
        (`fabflow.flows.handlers.registry.register`) and its connection test
        (`fabflow.connectors.testing.register_tester`)."""
        from fabflow.connectors import materialise, siteflow, threeyourmind, ultimaker

        ultimaker.register()
        threeyourmind.register()
        materialise.register()
        siteflow.register()
