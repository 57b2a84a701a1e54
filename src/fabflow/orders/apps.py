"""Orders app: orders, products, parts, assets and their timeline."""

from django.apps import AppConfig
from django.core import checks
from django.db.models.signals import post_migrate


class OrdersConfig(AppConfig):
    name = "fabflow.orders"
    label = "orders"

    def ready(self) -> None:
        from fabflow.core import search

        # SQLite drops a table's triggers when a migration rebuilds it: the search's FTS
        # objects are made again after every migrate, and a check reports missing ones.
        post_migrate.connect(search.repair_fts, sender=self, dispatch_uid="search.repair_fts")
        checks.register(search.check_fts, checks.Tags.database)
