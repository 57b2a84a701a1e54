"""Turning orders, products, parts and assets into the API's JSON objects."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings

from fabflow.orders import selectors
from fabflow.orders.assets import signed_download_url
from fabflow.orders.models import Asset, Order, OrderEvent, Part, Product
from fabflow.orders.selectors import grouped


def money(value: Any) -> str:
    return f"{value:.2f}"


def asset_json(asset: Asset) -> dict[str, Any]:
    return {
        "id": asset.id,
        "name": asset.name,
        "contentType": asset.content_type,
        "size": asset.size,
        "sha256": asset.sha256,
        "state": asset.state,
        "source": asset.source,
        "error": asset.error,
        "createdAt": asset.created_at,
        "downloadUrl": signed_download_url(asset) if asset.state == Asset.State.READY else None,
    }


def part_json(part: Part, assets: Iterable[Asset] = ()) -> dict[str, Any]:
    return {
        "id": part.id,
        "orderId": part.order_id,
        "productId": part.product_id,
        "name": part.name,
        "data": part.data,
        "manufacturingData": part.manufacturing_data,
        "createdAt": part.created_at,
        "assets": [asset_json(a) for a in assets],
    }


def product_json(
    product: Product,
    parts: Iterable[Part] = (),
    assets_by_part: dict[Any, list[Asset]] | None = None,
    assets: Iterable[Asset] = (),
    thumbnail: Asset | None = None,
) -> dict[str, Any]:
    """The product; its thumbnail is `thumbnail`, else chosen from the assets given."""
    by_part = assets_by_part or {}
    parts, assets = list(parts), list(assets)
    if thumbnail is None:
        of_parts = [a for p in parts for a in by_part.get(p.id, ())]
        thumbnail = selectors.thumbnail(product.name, assets, of_parts)
    return {
        "id": product.id,
        "orderId": product.order_id,
        "name": product.name,
        "configurationId": product.configuration_id,
        "configuration": product.configuration,
        "units": product.units,
        "value": money(product.unit_value),
        "deadline": product.deadline,
        "createdAt": product.created_at,
        "thumbnailUrl": signed_download_url(thumbnail) if thumbnail is not None else None,
        "manufacturingData": product.manufacturing_data,
        "assets": [asset_json(a) for a in assets],
        "parts": [part_json(p, by_part.get(p.id, ())) for p in parts],
    }


def order_url(order: Order) -> str:
    """The order's page in the web app."""
    return f"{settings.BASE_URL}/orders/{order.id}"


def order_summary_json(order: Order) -> dict[str, Any]:
    return {
        "id": order.id,
        "name": order.name,
        "thirdPartyOrderId": order.third_party_order_id,
        "spaceKey": order.space.key,
        "flow": {"key": order.flow_key, "version": order.flow_version_number}
        if order.flow_key
        else None,
        "status": order.status,
        "value": money(order.value),
        "currency": order.currency,
        "createdAt": order.created_at,
        "deadline": order.deadline,
        "tags": order.tags,
        "url": order_url(order),
    }


def order_json(
    order: Order,
    products: list[Product],
    parts: list[Part],
    assets: list[Asset],
    tasks: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The full order object, built from already loaded rows (no queries)."""
    parts_by_product = grouped(parts, "product_id")
    by_part = grouped(assets, "part_id")
    # Not the parts' (which name their product too); under None, the order's own.
    by_product = grouped([a for a in assets if not a.part_id], "product_id")
    return {
        **order_summary_json(order),
        "customerEmail": order.customer_email,
        "customerInfo": order.customer_info,
        "addresses": order.addresses,
        "data": order.data,
        "updateUrl": order.update_url or None,
        "assets": [asset_json(a) for a in by_product.get(None, [])],
        "products": [
            product_json(p, parts_by_product.get(p.id, []), by_part, by_product.get(p.id, []))
            for p in products
        ],
        "tasks": tasks or [],
    }


def event_json(event: OrderEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "kind": event.kind,
        "message": event.message,
        "data": event.data,
        "actor": event.actor,
        "createdAt": event.created_at,
    }
