"""Template paths: checked against the shape of the context the engine really builds."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pytest

from fabflow.core.templating import ANY_KEYS, LIST, TEXT, Shape, path_problem
from fabflow.flows.definition import TEMPLATE_CONTEXT, parse_flow, validate_definition
from fabflow.flows.engine.context import template_context
from fabflow.orders.models import Order
from fabflow.orders.schemas import CustomerInfo

ORDER_KEYS = "name, id, thirdPartyOrderId, value, status, deadline"


def real_context() -> Mapping[str, Any]:
    """What a handler's templates are rendered with, built by the engine's own code."""
    order = Order(
        id=uuid.uuid4(),
        name="WEB-1",
        third_party_order_id="WEB-1",
        value=Decimal("12.50"),
        customer_email="ann@example.com",
        customer_info={"name": "Ann"},
        data={"channel": "web"},
        addresses=[{"addressType": "shipping"}],
    )
    return template_context(order, {"products": [{"name": "Ring"}]}, str(uuid.uuid4()))


def fits(value: object, shape: Shape) -> bool:
    if shape == TEXT:
        return isinstance(value, str)
    if shape == LIST:
        return isinstance(value, list)
    if shape == ANY_KEYS:
        return isinstance(value, dict)
    return isinstance(value, dict) and isinstance(shape, Mapping) and set(value) <= set(shape)


def test_the_declared_roots_are_the_roots_of_the_real_context() -> None:
    # given the context the engine builds for an order
    context = real_context()
    # when its roots are compared with the declaration / then they are the same ones
    assert sorted(TEMPLATE_CONTEXT) == sorted([*dict(context), "products"])
    assert "products" in context  # loaded when a template names it


def test_each_root_of_the_real_context_has_its_declared_shape() -> None:
    # given the real context / when each root is checked against its shape / then it fits
    context = real_context()
    assert {root: fits(context[root], shape) for root, shape in TEMPLATE_CONTEXT.items()} == (
        dict.fromkeys(TEMPLATE_CONTEXT, True)
    )


def test_order_keys_are_exactly_those_the_engine_fills_in() -> None:
    # given the real context / then `order` has the declared keys, no more and no fewer
    assert list(real_context()["order"]) == list(TEMPLATE_CONTEXT["order"])


def test_customer_info_keys_are_the_fields_an_order_may_carry() -> None:
    # given the intake schema of customerInfo / then templates may name exactly its fields
    assert list(TEMPLATE_CONTEXT["customerInfo"]) == list(CustomerInfo.model_fields)


PATHS: list[tuple[str, str | None]] = [
    ("order", None),
    ("order.deadline", None),
    ("customerInfo.company", None),
    ("data.options.color", None),
    ("data._id", None),
    ("products", None),
    ("order.__class__",
     f"unknown key '__class__' in {{order.__class__}}; order has: {ORDER_KEYS}"),
    ("order.customer",
     f"unknown key 'customer' in {{order.customer}}; order has: {ORDER_KEYS}"),
    ("order.name.first", "{order.name.first} names nothing: order.name is a plain value"),
    ("customerInfo.address",
     "unknown key 'address' in {customerInfo.address}; customerInfo has: name, email, "
     "phone, company, message"),
    ("orderUrl.host", "{orderUrl.host} names nothing: orderUrl is a plain value"),
    ("products.name",
     "{products.name} names nothing: products is a list: it renders whole, without indexing"),
    ("data.__class__", "names starting with '__' are refused in {data.__class__}"),
    ("data.items.__len__", "names starting with '__' are refused in {data.items.__len__}"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "problem"), PATHS, ids=[path for path, _ in PATHS])
def test_paths_are_checked_against_the_shape(path: str, problem: str | None) -> None:
    # given a placeholder path / when checked against the context's shape / then
    assert path_problem(TEMPLATE_CONTEXT, path) == problem


def _email(subject: str) -> list[dict[str, Any]]:
    payload = {"recipient": "ops@shop.example", "subject": subject, "body": "Hi"}
    task = {"key": "a", "handlerKey": "send-email", "payload": payload}
    return [{"key": "s", "name": "S", "taskDefinitions": [task]}]


def test_a_definition_naming_an_attribute_is_refused_at_the_field() -> None:
    # given an e-mail subject reaching for an attribute of the order
    raw = _email("Order {order.__class__} for {customerInfo.name}")
    # when validated / then the subject is named with the reason
    assert [(e.loc, e.msg) for e in validate_definition(raw)] == [
        ((0, "taskDefinitions", 0, "payload", "subject"),
         f"unknown key '__class__' in {{order.__class__}}; order has: {ORDER_KEYS}"),
    ]  # fmt: skip


def test_a_stored_version_with_a_path_naming_nothing_still_runs() -> None:
    # given a version saved before paths were checked (it renders that path empty)
    raw = _email("Order {order.customer}")
    # when the engine parses it / then it runs as it did
    assert parse_flow(raw).root[0].taskDefinitions[0].payload["subject"] == "Order {order.customer}"
