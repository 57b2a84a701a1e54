"""The example plugin (examples/fabflow-hello-plugin), found through its entry point."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fabflow_hello import HelloHandler, HelloPayload

from fabflow.flows.definition import validate_definition
from fabflow.flows.engine.context import confirmation_url, feedback_url, template_context
from fabflow.flows.engine.effects import TaskEffects
from fabflow.flows.handlers import registry
from fabflow.flows.handlers.base import HandlerContext, Succeeded, TaskInfo
from fabflow.orders.models import Asset, Order
from fabflow.orders.selectors import order_rows
from fabflow.orders.serializers import order_json, order_url
from tests.factories import ApiClient, order_body

BUILTIN = ["asset-email", "consume-rest-api", "manual-task", "send-email", "wait"]
BUILTIN += ["ultimaker-print"]  # registered by the connectors app
BUILTIN += ["3yourmind-order", "materialise-order"]  # registered by the connectors app
BUILTIN += ["siteflow-submit", "siteflow-cancel"]  # registered by the connectors app
BUILTIN += ["generate-production-files"]  # registered by the production app
BUILTIN += ["slice"]  # registered by the production app
T0 = (0, "taskDefinitions", 0)


def flow(payload: dict[str, Any]) -> list[dict[str, Any]]:
    task = {"key": "greet", "handlerKey": "hello", "payload": payload, "next": []}
    return [{"key": "s", "name": "Stage", "taskDefinitions": [task]}]


def test_the_registry_holds_the_plugin_beside_the_builtin_handlers() -> None:
    # given the plugin installed under the fabflow.handlers entry point / when the registry loads
    handlers = registry.handlers()
    # then the plugin's handler is there with its payload model, next to the built-ins
    assert sorted(handlers) == sorted([*BUILTIN, "hello"])
    assert isinstance(handlers["hello"], HelloHandler)
    assert registry.payload_models()["hello"] is HelloPayload


def test_a_flow_using_the_plugin_is_valid() -> None:
    # given a flow with a hello task / when validated with the registry's payloads / then valid
    raw = flow({"greeting": "Hello {customerInfo.name}"})
    assert validate_definition(raw, registry.payload_models()) == []


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        ({}, [((*T0, "payload", "greeting"), "field required")]),
        ({"greeting": 5}, [((*T0, "payload", "greeting"), "Input should be a valid string")]),
        ({"greeting": "hi", "colour": "red"}, [((*T0, "payload", "colour"), "unknown field")]),
        (
            {"greeting": "Hello {customer.name}"},
            [
                (
                    (*T0, "payload", "greeting"),
                    "unknown template root 'customer' in {customer.name}; known roots: order, "
                    "orderUrl, customerEmail, customerInfo, data, addresses, products, "
                    "assetOverview, confirmationUrl",
                )
            ],
        ),
    ],
)
def test_a_bad_plugin_payload_is_reported_at_its_path(
    payload: dict[str, Any], errors: list[tuple[tuple[str | int, ...], str]]
) -> None:
    # given a hello task with a bad payload / when validated / then each error is at its path
    found = validate_definition(flow(payload), registry.payload_models())
    assert [(error.loc, error.msg) for error in found] == errors


def test_running_the_plugin_stores_the_rendered_greeting(api: ApiClient) -> None:
    # given an order and a hello task run with real task effects
    response = api.post("/api/v1/orders", order_body())
    order = Order.objects.get(pk=response.json()["id"])
    snapshot = order_json(order, *order_rows(order))
    handler = registry.handlers()["hello"]
    ctx = HandlerContext(
        order=snapshot,
        payload=handler.payload_model.model_validate(
            {"greeting": "Hello {customerInfo.name}, order {order.name}: {orderUrl}"}
        ),
        task=TaskInfo("run-1", "greet", "hello", 1, 1, "run-1"),
        # the engine's own template context (engine/context.py), as the runner builds it
        services=TaskEffects(
            order=order,
            run_id="run-1",
            context=lambda: template_context(order, snapshot, "run-1"),
        ),
        now=datetime(2026, 6, 1, tzinfo=UTC),
        feedback_url=feedback_url("run-1"),
        confirmation_url=confirmation_url("run-1"),
    )
    # when it runs
    outcome = handler.run(ctx)
    # then the order has a ready flow asset hello.txt holding the rendered greeting
    asset = Asset.objects.get(order=order, name="hello.txt")
    assert outcome == Succeeded(result={"asset": str(asset.id)})
    assert (asset.source, asset.state, asset.content_type) == ("flow", "ready", "text/plain")
    assert asset.file.read().decode() == f"Hello Ann, order WEB-1001: {order_url(order)}"
