"""Writes for orders: intake, the flow and status of an order, manufacturing data, and
assets attached later. Assets are written by `assets`, the timeline by `timeline`."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Field
from django.utils import timezone

from fabflow.accounts.models import Space
from fabflow.core.errors import Conflict, Invalid
from fabflow.orders import assets, hooks, timeline
from fabflow.orders.assets import NewAsset
from fabflow.orders.hooks import FlowChoice
from fabflow.orders.inserts import insert_rows
from fabflow.orders.models import Asset, Order, Part, Product
from fabflow.orders.schemas import AssetIn, OrderIn
from fabflow.orders.timeline import EventKind, Journal

MAX_ORDER_VALUE = Decimal("999999999999.99")
CENT = Decimal("0.01")


@dataclass
class NewOrder:
    """Rows of one new order, built in memory and written in a few bulk inserts."""

    order: Order
    products: list[Product] = field(default_factory=list)
    parts: list[Part] = field(default_factory=list)
    assets: list[NewAsset] = field(default_factory=list)
    asset_rows: list[Asset] = field(default_factory=list)  # as written


def order_value(payload: OrderIn) -> Decimal:
    total = sum((p.value * p.units for p in payload.products), Decimal("0"))
    total = total.quantize(CENT)
    if total > MAX_ORDER_VALUE:
        raise Invalid(f"order value exceeds {MAX_ORDER_VALUE}", field=("body", "products"))
    return total


def _asset(
    spec: AssetIn, loc: tuple[str | int, ...], *, product: Any = None, part: Any = None
) -> NewAsset:
    """An asset of the request, its inline content decoded (before any write: a bad one is a
    4xx naming `loc`)."""
    content = None
    if spec.contentBase64 is not None:
        content = assets.decode_inline(spec.contentBase64, (*loc, "contentBase64"))
    return NewAsset(
        spec.name,
        Asset.Source.URL if content is None else Asset.Source.INLINE,
        spec.contentType or "",
        content=content,
        url="" if content is not None else spec.url or "",
        product_id=product.id if product else None,
        part_id=part.id if part else None,
    )


def _build(space: Space, payload: OrderIn, flow: FlowChoice | None) -> NewOrder:
    order = Order(
        organization_id=space.organization_id,
        space=space,
        name=payload.name or payload.thirdPartyOrderId,
        third_party_order_id=payload.thirdPartyOrderId,
        value=order_value(payload),
        deadline=payload.deadline,
        tags=payload.tags,
        tag_index="".join(f"|{t.lower()}" for t in payload.tags) + ("|" if payload.tags else ""),
        customer_email=payload.customerEmail or "",
        customer_info=payload.customerInfo.model_dump(exclude_defaults=True),
        addresses=[a.model_dump() for a in payload.addresses],
        data=payload.data,
        update_url=payload.updateUrl or "",
        flow_key=flow.key if flow else "",
        flow_version_number=flow.version if flow else None,
    )
    intake = NewOrder(order)
    for i, spec in enumerate(payload.assets):
        intake.assets.append(_asset(spec, ("body", "assets", i)))
    for p_index, p in enumerate(payload.products):
        loc: tuple[str | int, ...] = ("body", "products", p_index)
        product = Product(
            organization_id=space.organization_id,
            order=order,
            position=p_index,
            name=p.name,
            configuration_id=p.configurationId,
            configuration=p.configuration,
            units=p.units,
            unit_value=p.value.quantize(CENT),
            deadline=p.deadline,
        )
        intake.products.append(product)
        for i, spec in enumerate(p.assets):
            intake.assets.append(_asset(spec, (*loc, "assets", i), product=product))
        for part_index, part_in in enumerate(p.parts):
            part = Part(
                organization_id=space.organization_id,
                order=order,
                product=product,
                position=part_index,
                name=part_in.name,
                data=part_in.data,
                manufacturing_data=part_in.manufacturingData,
            )
            intake.parts.append(part)
            for i, spec in enumerate(part_in.assets):
                where = (*loc, "parts", part_index, "assets", i)
                intake.assets.append(_asset(spec, where, product=product, part=part))
    return intake


def resolve_flow(space: Space, flow_key: str | None) -> FlowChoice | None:
    """The flow an order names (through the app that runs flows), or None for no flowKey."""
    return hooks.flows().flow_for(space=space, flow_key=flow_key) if flow_key else None


def create_order(*, space: Space, payload: OrderIn, actor: str = "") -> Order:
    """Store a new order with its products, parts and assets (see `intake_order`)."""
    return intake_order(space=space, payload=payload, actor=actor).order


def intake_order(*, space: Space, payload: OrderIn, actor: str = "") -> NewOrder:
    """Store a new order with its products, parts and assets; runs inside the caller's
    transaction when there is one (the idempotency record commits with it). Returns the rows
    as written, so the response needs no second read."""
    flow = resolve_flow(space, payload.flowKey)
    intake = _build(space, payload, flow)
    try:
        # No savepoint (two statements less per order): a failure dooms the caller's
        # transaction anyway, and a duplicate is told by the constraint it violates.
        with transaction.atomic(savepoint=False):
            _write(intake, flow, actor)
            return intake
    except IntegrityError as exc:
        assets.delete_files(intake.asset_rows)
        if _violates(exc, THIRD_PARTY_ID_UNIQUE):
            raise Conflict(
                f"An order with thirdPartyOrderId {payload.thirdPartyOrderId!r} exists "
                "in this space.",
                field=("body", "thirdPartyOrderId"),
                reason="already used",
            ) from exc
        raise
    except BaseException:
        assets.delete_files(intake.asset_rows)
        raise


THIRD_PARTY_ID_UNIQUE = next(
    c for c in Order._meta.constraints if c.name == "order_unique_third_party_id"
)


def _violates(exc: IntegrityError, constraint: Any) -> bool:
    """Whether `exc` is a violation of `constraint`, a unique constraint of Order: PostgreSQL
    names the constraint, SQLite the table's columns ("UNIQUE constraint failed: t.a, t.b")."""
    diag = getattr(exc.__cause__, "diag", None)
    name = getattr(diag, "constraint_name", None)
    if name is not None:
        return bool(name == constraint.name)
    table = Order._meta.db_table
    fields = [Order._meta.get_field(name) for name in constraint.fields]
    columns = ", ".join(f"{table}.{f.column}" for f in fields if isinstance(f, Field))
    return str(exc).endswith(f"UNIQUE constraint failed: {columns}")


def _write(intake: NewOrder, flow: FlowChoice | None, actor: str) -> Order:
    order = intake.order
    insert_rows([order])
    insert_rows(intake.products)
    insert_rows(intake.parts)
    intake.asset_rows = assets.create_assets(order=order, new=intake.assets)
    journal = Journal()
    counts = {"products": len(intake.products), "parts": len(intake.parts)}
    journal.event(
        order,
        EventKind.ORDER_CREATED,
        f"Order {order.name} created",
        actor=actor,
        data={**counts, "assets": len(intake.assets)},
    )
    if flow is not None:
        timeline.flow_assigned(journal, order, flow=flow.key, version=flow.version, actor=actor)
    journal.flush()  # one INSERT, in this order
    if flow is not None:
        hooks.flows().start(order=order, flow=flow, actor=actor)
    return order


def assign_flow(*, order: Order, flow_key: str, version: int, actor: str) -> None:
    """Give a not yet started order another flow version (inside the caller's transaction)."""
    order.flow_key, order.flow_version_number = flow_key, version
    order.save(update_fields=["flow_key", "flow_version_number", "updated_at"])
    journal = Journal()
    timeline.flow_assigned(journal, order, flow=flow_key, version=version, actor=actor)
    journal.flush()


def change_status(*, order: Order, status: str, actor: str, journal: Journal) -> None:
    """Set the order's status, with its timeline entry and updateUrl delivery in `journal`
    (the flow engine's verdict, inside the engine's transaction)."""
    previous = order.status
    if previous == status:
        return
    now = timezone.now()
    Order.objects.filter(pk=order.pk).update(status=status, updated_at=now)
    order.status, order.updated_at = status, now
    kind = EventKind.ORDER_STATUS_CHANGED
    data = {"from": previous, "to": status}
    journal.event(order, kind, f"Status {previous} → {status}", actor=actor, data=data)
    journal.update(order, kind, previous_status=previous)


def merge_manufacturing_data(
    *, order: Order, by_part: dict[str, dict[str, Any]], loc: tuple[str | int, ...]
) -> None:
    """Merge values into the manufacturing data of parts of the order (keyed by part id)."""
    parts = {str(p.id): p for p in Part.objects.filter(order=order, pk__in=list(by_part))}
    for part_id, values in by_part.items():
        part = parts.get(part_id)
        if part is None:
            raise Invalid("no such part in this order", field=(*loc, part_id))
        part.manufacturing_data = {**part.manufacturing_data, **values}
        part.save(update_fields=["manufacturing_data"])


def attach_assets(
    *, order: Order, specs: list[dict[str, Any]], actor: str, loc: tuple[str | int, ...]
) -> list[Asset]:
    """Attach inline or URL assets (e.g. from connector feedback) to an order, a product or a
    part of it; call inside a transaction. URL assets are fetched by a job after commit."""
    products = {str(p.id): p for p in order.products.all()}
    parts = {str(p.id): p for p in order.parts.all()}
    new = []
    for i, spec in enumerate(specs):
        part = parts.get(str(spec.get("partId")))
        product = products.get(str(spec.get("productId"))) or (part.product if part else None)
        if spec.get("partId") and part is None:
            raise Invalid("no such part in this order", field=(*loc, i, "partId"))
        if spec.get("productId") and str(spec["productId"]) not in products:
            raise Invalid("no such product in this order", field=(*loc, i, "productId"))
        fields = {k: spec.get(k) for k in ("name", "contentType", "contentBase64", "url")}
        new.append(_asset(AssetIn.model_validate(fields), (*loc, i), product=product, part=part))
    return assets.create_assets(order=order, new=new, actor=actor, announce=_attached)


def _attached(made: list[Asset]) -> tuple[str, dict[str, Any]]:
    return f"{len(made)} asset(s) attached", {"assetIds": [str(a.id) for a in made]}


def add_uploaded_asset(
    *,
    order: Order,
    name: str,
    handle: Any,
    size: int,
    content_type: str,
    product: Product | None = None,
    part: Part | None = None,
    actor: str = "",
) -> Asset:
    """Attach an uploaded file to an order (and optionally one of its products or parts).
    `size` is what the client announced; the stored size is counted while storing."""
    upload = NewAsset(
        name,
        Asset.Source.UPLOAD,
        content_type,
        upload=handle,
        product_id=product.id if product else (part.product_id if part else None),
        part_id=part.id if part else None,
    )
    [asset] = assets.create_assets(order=order, new=[upload], actor=actor, announce=_uploaded)
    return asset


def _uploaded(made: list[Asset]) -> tuple[str, dict[str, Any]]:
    [asset] = made
    return f"Asset {asset.name} uploaded", {"assetId": str(asset.id), "size": asset.size}
