"""TEMPORARY experiment (to be deleted): gunicorn config patching proposed fixes in-process."""

import os
import threading

V = set(os.environ.get("EXP_VARIANT", "").split(","))


def post_worker_init(worker):
    from django.conf import settings

    if "persist" in V:
        settings.DATABASES["default"]["CONN_MAX_AGE"] = 600
    if "inmem" in V:
        from fabflow.orders import api, serializers, services
        from fabflow.orders.schemas import OrderOut

        local = threading.local()
        orig_write = services._write

        def _write(intake, actor):
            local.intake = intake
            return orig_write(intake, actor)

        def _full_order(order):
            i = local.intake
            body = serializers.order_json(order, i.products, i.parts, [a for a, _ in i.assets], [])
            return OrderOut.model_validate(body).model_dump(mode="json")

        services._write = _write
        api._full_order = _full_order
