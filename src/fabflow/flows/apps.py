"""Flows app: order flow definitions and their versions."""

from django.apps import AppConfig


class FlowsConfig(AppConfig):
    name = "fabflow.flows"
    label = "flows"
