"""Demo app: the `fabflow demo` command (make run)."""

from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "fabflow.demo"
    label = "demo"
