"""Production app: parametric models per space and the handlers that render and slice them."""

from django.apps import AppConfig


class ProductionConfig(AppConfig):
    name = "fabflow.production"
    label = "production"

    def ready(self) -> None:
        from fabflow.flows.handlers.registry import register
        from fabflow.production.generate import GenerateProductionFiles
        from fabflow.production.slice import Slice

        register(GenerateProductionFiles, Slice)
