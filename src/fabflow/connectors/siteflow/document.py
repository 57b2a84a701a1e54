"""The Site Flow order document, built from Fabflow's order object (a pure function)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fabflow.connectors.siteflow.payloads import SiteflowSubmitPayload


class DocumentError(ValueError):
    """The order cannot become a Site Flow document (the message names what is missing)."""


# Fabflow's address keys -> Site Flow's shipTo keys, the first present wins
# (docs/connectors/hp-siteflow.md); `street` and `postalCode` are what `fabflow seed` writes.
ADDRESS_FIELDS = (
    ("address1", ("line1", "street")),
    ("address2", ("line2",)),
    ("town", ("city",)),
    ("postcode", ("postcode", "zip", "postalCode")),
    ("state", ("state",)),
    ("isoCountry", ("country",)),
)


def shipping_address(order: Mapping[str, Any]) -> Mapping[str, Any]:
    """The data of the order's first shipping address (or of its only address)."""
    addresses = [a for a in order.get("addresses") or [] if isinstance(a, Mapping)]
    shipping = [a for a in addresses if a.get("addressType", "shipping") == "shipping"]
    chosen = shipping or (addresses if len(addresses) == 1 else [])
    if not chosen:
        raise DocumentError("the order has no shipping address")
    data = chosen[0].get("data")
    return data if isinstance(data, Mapping) else {}


def ship_to(order: Mapping[str, Any]) -> dict[str, str]:
    address = shipping_address(order)
    customer = order.get("customerInfo") or {}
    found: dict[str, Any] = {
        "name": address.get("name") or customer.get("name"),
        **{
            to: next((address[k] for k in keys if address.get(k)), None)
            for to, keys in ADDRESS_FIELDS
        },
        "email": customer.get("email") or order.get("customerEmail"),
        "phone": customer.get("phone"),
    }
    missing = [key for key in ("name", "address1", "town", "isoCountry") if not found[key]]
    if missing:
        raise DocumentError(f"the shipping address lacks {', '.join(missing)}")
    return {key: str(value) for key, value in found.items() if value not in (None, "")}


def sku(product: Mapping[str, Any], payload: SiteflowSubmitPayload) -> str:
    """skuMap by name, then by configurationId; the configuration's `skuKey`; `sku`; the name."""
    configuration = product.get("configuration") or {}
    for key in (product.get("name"), product.get("configurationId")):
        if key and key in payload.skuMap:
            return payload.skuMap[key]
    if payload.skuKey and configuration.get(payload.skuKey) not in (None, ""):
        return str(configuration[payload.skuKey])
    return payload.sku or str(product["name"])


def build(
    order: Mapping[str, Any],
    payload: SiteflowSubmitPayload,
    *,
    postback_url: str,
    component_url: Callable[[Mapping[str, Any]], str | None],
) -> dict[str, Any]:
    """The document to POST to /api/order. `component_url(product)` gives the download link of
    the product's matching asset, or None when it has none (the document cannot be built)."""
    items = []
    for product in order.get("products") or []:
        path = component_url(product)
        if path is None:
            raise DocumentError(
                f"product {product['name']} has no asset matching {payload.filter!r}"
            )
        items.append(
            {
                "sourceItemId": str(product["id"]),
                "sku": sku(product, payload),
                "quantity": int(product.get("units") or 1),
                "components": [{"code": payload.componentCode, "path": path, "fetch": True}],
            }
        )
    if not items:
        raise DocumentError("the order has no products")
    carrier = payload.carrier.model_dump(exclude_defaults=True)
    return {
        "destination": {"name": payload.destination},
        "orderData": {
            "sourceOrderId": str(order["thirdPartyOrderId"]),
            "postbackAddress": postback_url,
            "items": items,
            "shipments": [{"shipTo": ship_to(order), "carrier": carrier}],
        },
    }
