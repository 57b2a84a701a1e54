"""Orders, products, parts, assets and events endpoints (thin: validate, call, render)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from ninja import Field, File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile

from fabflow.accounts import selectors as account_selectors
from fabflow.accounts.auth import Principal, authenticate, principal
from fabflow.accounts.models import Space
from fabflow.core.errors import TooLarge
from fabflow.core.pagination import MAX_LIMIT, paginate
from fabflow.core.problems import ApiError, invalid
from fabflow.orders import idempotency, selectors, serializers, services
from fabflow.orders.assets import check_download_token, file_response
from fabflow.orders.filters import (
    ORDER_SORT,
    PART_SORT,
    PRODUCT_SORT,
    OrderFilter,
    PartFilter,
    ProductFilter,
)
from fabflow.orders.models import Asset
from fabflow.orders.schemas import (
    AssetOut,
    EventPage,
    OrderIn,
    OrderOut,
    OrderPage,
    PartOut,
    PartPage,
    ProductOut,
    ProductPage,
)

router = Router(tags=["orders"])


class PageParams(Schema):
    limit: int = Field(50, ge=1, le=MAX_LIMIT)
    ordering: str = "-createdAt"
    cursor: str | None = None


def _space_for_create(who: Principal, space_key: str | None) -> Space:
    if who.space is not None:
        if space_key and space_key != who.space.key:
            raise ApiError(
                403,
                "This secret key belongs to another space.",
                errors=[{"loc": ["body", "spaceKey"], "msg": "not this key's space"}],
            )
        return who.space
    if not space_key:
        raise invalid(("body", "spaceKey"), "required when not calling with a secret key")
    space = account_selectors.space_by_key(organization=who.organization, key=space_key)
    if space is None:
        raise invalid(("body", "spaceKey"), f"unknown space {space_key!r}")
    return space


def _new_order_body(new: services.NewOrder) -> dict[str, Any]:
    # From the rows just written (no second read); its flow, if any, has not run a task yet.
    body = serializers.order_json(new.order, new.products, new.parts, new.asset_rows, [])
    return OrderOut.model_validate(body).model_dump(mode="json")


@router.post("/orders", response={201: OrderOut, 200: OrderOut}, operation_id="create_order")
def create_order(request: HttpRequest, payload: OrderIn) -> Any:
    """Create an order; with `Idempotency-Key` a retry replays the first response."""
    who = principal(request)
    space = _space_for_create(who, payload.spaceKey)
    claim = None
    if (key := request.headers.get("Idempotency-Key")) is not None:
        digest = idempotency.request_hash(payload.model_dump(mode="json"))
        claim = idempotency.Claim(space, idempotency.check_key(key), digest)
    with transaction.atomic():
        replay = idempotency.begin(claim) if claim is not None else None
        if replay is not None:
            return Status(*replay)
        new = services.intake_order(space=space, payload=payload, actor=who.actor)
        if claim is not None:  # the replay must be this very response: stored with the order
            body = _new_order_body(new)
            idempotency.record(claim, status=201, body=body, order=new.order)
    # Without a key the response is rendered after the commit: on SQLite every millisecond
    # inside the transaction holds the one write lock that all writers queue for.
    return Status(201, body if claim is not None else _new_order_body(new))


@router.get("/orders", response=OrderPage, operation_id="list_orders")
def list_orders(
    request: HttpRequest,
    filters: Query[OrderFilter],
    page: Query[PageParams],
) -> dict[str, Any]:
    qs = filters.apply(selectors.order_list(principal(request)))
    rows, next_url = paginate(request, qs, keys=ORDER_SORT, **page.model_dump())
    return {"items": [serializers.order_summary_json(o) for o in rows], "next": next_url}


@router.get("/orders/{order_id}", response=OrderOut, operation_id="get_order")
def get_order(request: HttpRequest, order_id: UUID) -> dict[str, Any]:
    order = selectors.get_or_404(selectors.orders_for(principal(request)), order_id)
    return serializers.order_json(order, *selectors.order_rows(order))


@router.get("/orders/{order_id}/events", response=EventPage, operation_id="list_order_events")
def list_events(
    request: HttpRequest,
    order_id: UUID,
    limit: int = Query(50, ge=1, le=MAX_LIMIT),  # type: ignore[type-arg]
    after: int = Query(0, ge=0),  # type: ignore[type-arg]
) -> dict[str, Any]:
    order = selectors.get_or_404(selectors.orders_for(principal(request)), order_id)
    rows = selectors.events_after(order=order, after=after, limit=limit)
    next_url = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_url = request.build_absolute_uri(f"{request.path}?limit={limit}&after={rows[-1].id}")
    return {"items": [serializers.event_json(e) for e in rows], "next": next_url}


@router.post("/orders/{order_id}/assets", response={201: AssetOut}, operation_id="upload_asset")
def upload_asset(
    request: HttpRequest,
    order_id: UUID,
    file: File[UploadedFile],
    productId: Form[UUID | None] = None,
    partId: Form[UUID | None] = None,
) -> Any:
    """Attach a file (multipart `file`) to an order, or to one of its products or parts."""
    who = principal(request)
    order = selectors.get_or_404(selectors.orders_for(who), order_id)
    if (file.size or 0) > settings.FABFLOW_MAX_UPLOAD_BYTES:
        limit = settings.FABFLOW_MAX_UPLOAD_BYTES
        raise TooLarge(
            f"Files are limited to {limit} bytes.", field=("form", "file"), reason="too large"
        )
    product = part = None
    if partId is not None:
        part = selectors.order_part(order=order, part_id=partId)
        if part is None:
            raise invalid(("form", "partId"), "no such part in this order")
        if productId is not None and part.product_id != productId:
            raise invalid(("form", "productId"), "the part belongs to another product")
    elif productId is not None:
        product = selectors.order_product(order=order, product_id=productId)
        if product is None:
            raise invalid(("form", "productId"), "no such product in this order")
    name = (file.name or "upload").replace("\x00", "")
    asset = services.add_uploaded_asset(
        order=order,
        name=name[:255],
        handle=file,
        size=file.size or 0,
        content_type=file.content_type or "",
        product=product,
        part=part,
        actor=who.actor,
    )
    return Status(201, serializers.asset_json(asset))


@router.get("/products", response=ProductPage, operation_id="list_products")
def list_products(
    request: HttpRequest,
    filters: Query[ProductFilter],
    page: Query[PageParams],
) -> dict[str, Any]:
    qs = filters.apply(selectors.products_for(principal(request)))
    rows, next_url = paginate(request, qs, keys=PRODUCT_SORT, **page.model_dump())
    parts = selectors.parts_by_product(principal(request), rows)
    thumbnails = selectors.thumbnails(rows)
    return {
        "items": [
            serializers.product_json(p, parts.get(p.id, []), thumbnail=thumbnails.get(p.id))
            for p in rows
        ],
        "next": next_url,
    }


@router.get("/products/{product_id}", response=ProductOut, operation_id="get_product")
def get_product(request: HttpRequest, product_id: UUID) -> dict[str, Any]:
    who = principal(request)
    product = selectors.get_or_404(selectors.products_for(who), product_id)
    parts = list(selectors.product_parts(product))
    assets = selectors.product_assets(product)
    by_part = selectors.grouped([a for a in assets if a.part_id], "part_id")
    return serializers.product_json(product, parts, by_part, [a for a in assets if not a.part_id])


@router.get("/parts", response=PartPage, operation_id="list_parts")
def list_parts(
    request: HttpRequest,
    filters: Query[PartFilter],
    page: Query[PageParams],
) -> dict[str, Any]:
    qs = filters.apply(selectors.parts_for(principal(request)))
    rows, next_url = paginate(request, qs, keys=PART_SORT, **page.model_dump())
    assets = selectors.assets_by_part(rows)
    return {
        "items": [serializers.part_json(p, assets.get(p.id, [])) for p in rows],
        "next": next_url,
    }


@router.get("/parts/{part_id}", response=PartOut, operation_id="get_part")
def get_part(request: HttpRequest, part_id: UUID) -> dict[str, Any]:
    part = selectors.get_or_404(selectors.parts_for(principal(request)), part_id)
    return serializers.part_json(part, selectors.part_assets(part))


@router.get(
    "/assets/{asset_id}/download", auth=None, operation_id="download_asset", response={200: None}
)
def download_asset(request: HttpRequest, asset_id: UUID, token: str | None = None) -> Any:
    """The file; with a secret key, a session, or a signed `token` from a `downloadUrl`."""
    if token is not None and check_download_token(token, str(asset_id)):
        asset = selectors.signed_asset(asset_id)
    else:
        who = authenticate(request)
        asset = selectors.asset_for(who, asset_id)
    if asset is None:
        raise ApiError(404, "Not found.")
    if asset.state != Asset.State.READY or not asset.file:
        raise ApiError(409, f"The asset is {asset.state}; its file is not available yet.")
    return file_response(asset)
