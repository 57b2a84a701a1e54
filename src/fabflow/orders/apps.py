"""Orders app: orders, products, parts, assets and their timeline."""

from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "fabflow.orders"
    label = "orders"
