"""Production app: parametric models per space and the handlers that render and slice them."""

from django.apps import AppConfig


class ProductionConfig(AppConfig):
    name = "fabflow.production"
    label = "production"
