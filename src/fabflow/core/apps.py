"""Core app: shared pieces with no domain."""

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "fabflow.core"
    label = "core"
