"""Building what a handler sees: the order snapshot, template context, links and services."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from django.conf import settings
from django.core import signing
from django.urls import get_script_prefix, reverse

from fabflow.flows.engine import store
from fabflow.flows.engine.effects import TaskEffects
from fabflow.flows.handlers.base import Handler, HandlerContext, TaskInfo
from fabflow.flows.models import TaskRun
from fabflow.flows.serializers import task_json
from fabflow.orders import selectors, serializers
from fabflow.orders.models import Order
from fabflow.orders.serializers import money, order_url

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
    return _link("api-1:connector_feedback", feedback_token(run_id))


def confirmation_url(run_id: str) -> str:
    return _link("confirm_task", confirmation_token(run_id))


def _link(route_name: str, token: str) -> str:
    return settings.BASE_URL + _route(route_name, get_script_prefix()).replace(_SLOT, token)


_SLOT = "token-slot"


@cache
def _route(name: str, script_prefix: str) -> str:
    """The path of a token route with a slot for the token, reversed once per process (every
    handler call gets both links) and script prefix. Tokens are URL-safe: reverse() would not
    change them."""
    return reverse(name, kwargs={"token": _SLOT})


class TemplateContext(dict[str, Any]):
    """The roots docs/flows.md allows in templates, as plain dictionaries. `products` comes from
    the order snapshot, loaded only when a template uses it (a plain e-mail needs no query)."""

    def __init__(self, roots: dict[str, Any], snapshot: Mapping[str, Any]) -> None:
        super().__init__(roots)
        self._snapshot = snapshot

    def __missing__(self, key: str) -> Any:
        if key != "products":
            raise KeyError(key)
        self[key] = self._snapshot["products"]
        return self[key]

    def __contains__(self, key: object) -> bool:
        return key == "products" or super().__contains__(key)


def template_context(order: Order, snapshot: Mapping[str, Any], run_id: str) -> TemplateContext:
    roots = {
        "order": {
            "name": order.name,
            "id": str(order.id),
            "thirdPartyOrderId": order.third_party_order_id,
            "value": money(order.value),
            "status": order.status,
            "deadline": order.deadline.isoformat() if order.deadline else "",
        },
        "orderUrl": order_url(order),
        "customerEmail": order.customer_email,
        "customerInfo": order.customer_info,
        "data": order.data,
        "addresses": order.addresses,
        "assetOverview": "",
        "confirmationUrl": confirmation_url(run_id),
    }
    return TemplateContext(roots, snapshot)


class OrderSnapshot(Mapping[str, Any]):
    """The API's order object, loaded on first use: a `wait` or `manual-task` never needs it,
    and it costs several queries."""

    def __init__(self, order: Order, runs: Sequence[TaskRun] | None = None) -> None:
        self._order = order
        self._runs = runs
        self._data: dict[str, Any] | None = None

    @property
    def data(self) -> dict[str, Any]:
        if self._data is None:
            if self._runs is None:
                rows = selectors.order_rows(self._order)
            else:
                # The runner holds the task runs in memory: they are current, and free.
                tasks = [task_json(r) for r in self._runs]
                rows = (*store.order_items(self._order), tasks)
            self._data = serializers.order_json(self._order, *rows)
        return self._data

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


def build(
    handler: Handler,
    run: TaskRun,
    payload: dict[str, Any],
    now: datetime,
    runs: Sequence[TaskRun] | None = None,
) -> tuple[HandlerContext, TaskEffects]:
    order = run.order
    order_json = OrderSnapshot(order, runs)
    run_id = str(run.id)
    effects = TaskEffects(
        order=order,
        run_id=run_id,
        context=lambda: template_context(order, order_json, run_id),
        run=run,
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
        extra={"startedAt": run.started_at or now, "progress": dict(run.progress)},
    )
    return ctx, effects
