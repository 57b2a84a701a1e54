"""Connectors app: per-space connections to partners and the handlers that speak their APIs."""

from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    name = "fabflow.connectors"
    label = "connectors"
