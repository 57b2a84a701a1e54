"""The Site Flow order document and request signature, as pure functions."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from fabflow.connectors.siteflow.client import partner_message, sign
from fabflow.connectors.siteflow.document import DocumentError, build
from fabflow.connectors.siteflow.payloads import SiteflowSubmitPayload
from fabflow.flows.definition import validate_definition
from fabflow.flows.handlers import registry

DATA = Path(__file__).resolve().parent.parent / "data" / "siteflow"
POSTBACK = "https://fabflow.example/api/v1/connectors/siteflow/postback/TOKEN"


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def files(product: Mapping[str, Any]) -> str:
    name = str(product["name"]).lower().replace(" ", "-")
    return f"https://fabflow.example/files/{name}.stl?token=T"


def document(order: Mapping[str, Any], **payload: Any) -> dict[str, Any]:
    model = SiteflowSubmitPayload.model_validate({**load("submit-payload.json"), **payload})
    return build(order, model, postback_url=POSTBACK, component_url=files)


def test_the_order_maps_to_the_recorded_document() -> None:
    # given the recorded order and payload (skuKey, skuMap by configurationId, default name)
    # when the document is built
    # then it is the recorded expected document, field for field
    assert document(load("order.json")) == load("expected-document.json")


def test_the_address_name_wins_and_empty_fields_are_left_out() -> None:
    order = load("order.json")
    order["addresses"] = [
        {"data": {"name": "Bob", "line1": "1 Main St", "city": "X", "country": "US"}}
    ]
    order["customerInfo"] = {"name": "Ann"}
    ship_to = document(order)["orderData"]["shipments"][0]["shipTo"]
    assert ship_to == {
        "name": "Bob",
        "address1": "1 Main St",
        "town": "X",
        "isoCountry": "US",
        "email": "ann@example.com",
    }


def test_a_carrier_without_service_sends_only_its_code() -> None:
    carrier = document(load("order.json"), carrier={"code": "pickup"})["orderData"]["shipments"]
    assert carrier[0]["carrier"] == {"code": "pickup"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"addresses": []}, "the order has no shipping address"),
        (
            {"addresses": [{"addressType": "shipping", "data": {"line1": "x"}}]},
            "the shipping address lacks town, isoCountry",
        ),
        ({"products": []}, "the order has no products"),
    ],
)
def test_an_order_that_cannot_become_a_document_says_why(
    change: dict[str, Any], message: str
) -> None:
    with pytest.raises(DocumentError, match=f"^{message}$"):
        document({**load("order.json"), **change})


def test_a_product_without_a_matching_asset_is_named() -> None:
    model = SiteflowSubmitPayload.model_validate(load("submit-payload.json"))

    def only_rings(product: Mapping[str, Any]) -> str | None:
        return None if product["name"] == "Pendant" else files(product)

    with pytest.raises(
        DocumentError, match=r"^product Pendant has no asset matching '\\\\.stl\$'$"
    ):
        build(load("order.json"), model, postback_url=POSTBACK, component_url=only_rings)


@pytest.mark.parametrize(
    ("algorithm", "digest"),
    [
        # Computed with openssl: printf 'POST /siteflow/api/order2024-05-01T10:00:00Z' |
        #   openssl dgst -sha256 -hmac secret   (and -sha1)
        ("SHA256", "555f425d8ce02fa934b0439ee2eefda70060227a3f50e0f6c915503d5b3744ad"),
        ("SHA1", "44be262bfcf34ac907c7c696ac67eb4ab71c6097"),
    ],
)
def test_the_signature_is_the_hmac_of_method_whole_path_and_date(
    algorithm: str, digest: str
) -> None:
    signed = sign("POST", "/siteflow/api/order", "secret", "key", "2024-05-01T10:00:00Z", algorithm)
    assert signed == f"key:{digest}"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            load("validate-refused.json"),
            "Order is invalid; orderData.items[0].sku: SKU 'Ring 0' does not exist; "
            "orderData.shipments[0].carrier: carrier 'drone' is not set up",
        ),
        ({"error": "invalid order error"}, "invalid order error"),
        ({"message": "Not allowed"}, "Not allowed"),
        ("<html> Bad   gateway </html>", "<html> Bad gateway </html>"),
        (None, ""),
    ],
)
def test_partner_errors_read_as_sentences(body: Any, message: str) -> None:
    assert partner_message(body) == message


def test_the_documented_flow_example_is_valid() -> None:
    text = (Path(__file__).parents[2] / "docs" / "connectors" / "hp-siteflow.md").read_text()
    start_at = text.index("```json", text.index("## Flow example")) + len("```json")
    example = json.loads(text[start_at : text.index("```", start_at)])
    assert validate_definition(example, registry.payload_models()) == []
    assert example[0]["taskDefinitions"][0]["handlerKey"] == "siteflow-submit"
