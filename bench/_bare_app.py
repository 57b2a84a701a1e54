"""The floor of bench/intake.py: a bare Django + django-ninja app doing the same inserts.

`bench/intake.py --app bare` serves this module instead of Fabflow: the same settings and
database (so the same SQLite pragmas and PostgreSQL options), Fabflow's tables, but no
middleware beyond CommonMiddleware, no authentication, no validation beyond JSON parsing and
no flow: per order one transaction that INSERTs the order, its products, its parts, the
`order.created` event and, when the request has an `Idempotency-Key`, the key's row. What
intake costs above this is Fabflow's own (validation, auth, idempotency, the response).
GET /api/v1/orders (keyset on id, `next` links) lets intake.py check every accepted order.
"""

from __future__ import annotations

import os
import uuid
from decimal import Decimal
from typing import Any

os.environ["DJANGO_SETTINGS_MODULE"] = "_bare_settings"

from django.core.wsgi import get_wsgi_application

application = get_wsgi_application()

from django.db import transaction  # noqa: E402
from django.http import HttpRequest  # noqa: E402
from django.urls import path  # noqa: E402
from django.utils import timezone  # noqa: E402
from ninja import Body, NinjaAPI  # noqa: E402

from fabflow.accounts.models import Space  # noqa: E402
from fabflow.orders.models import IdempotencyKey, Order, OrderEvent, Part, Product  # noqa: E402

api = NinjaAPI(urls_namespace="bare", docs_url=None)
_space: dict[str, Space] = {}


def space() -> Space:
    if "bench" not in _space:
        _space["bench"] = Space.objects.get(key="bench")
    return _space["bench"]


@api.get("/health")
def health(request: HttpRequest) -> dict[str, str]:
    return {"status": "ok"}


@api.post("/orders", response={201: dict})
def create(request: HttpRequest, body: dict[str, Any] = Body(...)) -> Any:  # noqa: B008
    s = space()
    order = Order(
        organization_id=s.organization_id,
        space=s,
        name=body.get("name") or body["thirdPartyOrderId"],
        third_party_order_id=body["thirdPartyOrderId"],
        customer_email=body.get("customerEmail", ""),
        customer_info=body.get("customerInfo", {}),
        addresses=body.get("addresses", []),
        tags=body.get("tags", []),
        data=body.get("data", {}),
    )
    products, parts = [], []
    for i, p in enumerate(body.get("products", [])):
        product = Product(
            organization_id=s.organization_id,
            order=order,
            position=i,
            name=p["name"],
            configuration_id=p.get("configurationId", ""),
            configuration=p.get("configuration", {}),
            units=p.get("units", 1),
            unit_value=Decimal(p.get("value", "0")),
        )
        products.append(product)
        for j, part in enumerate(p.get("parts", [])):
            parts.append(
                Part(
                    organization_id=s.organization_id,
                    order=order,
                    product=product,
                    position=j,
                    name=part["name"],
                    data=part.get("data", {}),
                    manufacturing_data=part.get("manufacturingData", {}),
                )
            )
    key = request.headers.get("Idempotency-Key")
    with transaction.atomic():
        order.save(force_insert=True)
        Product.objects.bulk_create(products)
        Part.objects.bulk_create(parts)
        OrderEvent.objects.create(order=order, kind="order.created", message="created")
        if key:
            IdempotencyKey.objects.create(
                space=s,
                key=key,
                request_hash="-",
                state=IdempotencyKey.State.DONE,
                locked_at=timezone.now(),
                response_status=201,
                response_body={"id": str(order.id)},
                order=order,
            )
    return 201, {"id": str(order.id), "thirdPartyOrderId": order.third_party_order_id}


@api.get("/orders")
def orders(request: HttpRequest, limit: int = 200, after: uuid.UUID | None = None) -> Any:
    qs = Order.objects.filter(space=space()).order_by("id")
    if after is not None:
        qs = qs.filter(id__gt=after)
    items = list(qs.values("id", "third_party_order_id")[: limit + 1])
    following = None
    if len(items) > limit:
        items = items[:limit]
        following = f"{request.path}?limit={limit}&after={items[-1]['id']}"
    return {
        "items": [{"thirdPartyOrderId": i["third_party_order_id"]} for i in items],
        "next": following,
    }


urlpatterns = [path("api/v1/", api.urls)]
