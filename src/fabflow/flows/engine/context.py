"""Building what a handler sees: the order snapshot, template context, links and services."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core import signing
from django.urls import reverse

from fabflow.flows.engine.effects import TaskEffects
from fabflow.flows.handlers.base import Handler, HandlerContext, TaskInfo
from fabflow.flows.models import TaskRun
from fabflow.orders import selectors, serializers
from fabflow.orders.models import Order

FEEDBACK_SALT = "fabflow.feedback"
CONFIRM_SALT = "fabflow.confirm"


def feedback_token(run_id: str) -> str:
    return signing.dumps(run_id, salt=FEEDBACK_SALT, compress=True)


def confirmation_token(run_id: str) -> str:
    return signing.dumps(run_id, salt=CONFIRM_SALT, compress=True)


def run_id_from(token: str, salt: str, max_age: int | None = None) -> str | None:
    try:
        value = signing.loads(token, salt=salt, max_age=max_age)
    except signing.BadSignature:
        return None
    return value if isinstance(value, str) else None


def feedback_url(run_id: str) -> str:
    path = reverse("api-1:connector_feedback", kwargs={"token": feedback_token(run_id)})
    return f"{settings.BASE_URL}{path}"


def confirmation_url(run_id: str) -> str:
    path = reverse("confirm_task", kwargs={"token": confirmation_token(run_id)})
    return f"{settings.BASE_URL}{path}"


def template_context(order: Order, order_json: dict[str, Any], run_id: str) -> dict[str, Any]:
    """The roots FLOWS.md allows in templates, as plain dictionaries."""
    return {
        "order": {
            "name": order.name,
            "id": str(order.id),
            "thirdPartyOrderId": order.third_party_order_id,
            "value": order_json["value"],
            "status": order.status,
            "deadline": order.deadline.isoformat() if order.deadline else "",
        },
        "orderUrl": order_json["url"],
        "customerEmail": order.customer_email,
        "customerInfo": order.customer_info,
        "data": order.data,
        "addresses": order.addresses,
        "products": order_json["products"],
        "assetOverview": "",
        "confirmationUrl": confirmation_url(run_id),
    }


class OrderSnapshot(Mapping[str, Any]):
    """The API's order object, loaded on first use: a `wait` or `manual-task` never needs it,
    and it costs several queries."""

    def __init__(self, order: Order) -> None:
        self._order = order
        self._data: dict[str, Any] | None = None

    @property
    def data(self) -> dict[str, Any]:
        if self._data is None:
            self._data = serializers.order_json(self._order, *selectors.order_rows(self._order))
        return self._data

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


def build(
    handler: Handler, run: TaskRun, payload: dict[str, Any], now: datetime
) -> tuple[HandlerContext, TaskEffects]:
    order = run.order
    order_json = OrderSnapshot(order)
    run_id = str(run.id)
    effects = TaskEffects(
        order=order,
        order_json=order_json,
        run_id=run_id,
        context=lambda: template_context(order, order_json.data, run_id),
    )
    ctx = HandlerContext(
        order=order_json,
        payload=handler.payload_model.model_validate(payload),
        task=TaskInfo(
            id=run_id,
            key=run.key,
            handler_key=run.handler_key,
            attempt=run.attempt,
            delivery=run.deliveries,
            idempotency_key=run_id,
        ),
        services=effects,
        now=now,
        feedback_url=feedback_url(run_id),
        confirmation_url=confirmation_url(run_id),
        timeout_at=run.timeout_at,
        extra={"startedAt": run.started_at or now},
    )
    return ctx, effects
