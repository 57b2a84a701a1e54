"""Writes for orders: intake, assets and the timeline, each in one transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Field

from fabflow.accounts.models import Space
from fabflow.core import rows
from fabflow.core.problems import ApiError, invalid
from fabflow.flows.models import FlowVersion
from fabflow.flows.selectors import latest_version
from fabflow.orders import assets as asset_files
from fabflow.orders.models import Asset, Order, OrderEvent, Part, Product
from fabflow.orders.schemas import AssetIn, OrderIn

MAX_ORDER_VALUE = Decimal("999999999999.99")
CENT = Decimal("0.01")


def record_event(
    order: Order,
    kind: str,
    message: str = "",
    *,
    data: dict[str, Any] | None = None,
    actor: str = "",
) -> OrderEvent:
    """Append to an order's timeline; call inside the transaction of the change it records.
    The entry's id is not read back (nothing needs it)."""
    event = OrderEvent(order=order, kind=kind, message=message, data=data or {}, actor=actor)
    rows.insert([event])
    return event


def record_flow_assigned(order: Order, version: FlowVersion, actor: str) -> OrderEvent:
    event = flow_assigned_event(order, version, actor)
    event.save(force_insert=True)
    return event


def flow_assigned_event(order: Order, version: FlowVersion, actor: str) -> OrderEvent:
    """The timeline entry of a flow assigned to an order (unsaved)."""
    return OrderEvent(
        order=order,
        kind="flow.assigned",
        message=f"Flow {version.flow.name} v{version.number}",
        actor=actor,
        data={"flow": version.flow.name, "version": version.number},
    )


@dataclass
class NewOrder:
    """Rows of one new order, built in memory and written in a few bulk inserts."""

    order: Order
    products: list[Product] = field(default_factory=list)
    parts: list[Part] = field(default_factory=list)
    assets: list[tuple[Asset, bytes | None]] = field(default_factory=list)

    @property
    def asset_rows(self) -> list[Asset]:
        return [asset for asset, _ in self.assets]


def order_value(payload: OrderIn) -> Decimal:
    total = sum((p.value * p.units for p in payload.products), Decimal("0"))
    total = total.quantize(CENT)
    if total > MAX_ORDER_VALUE:
        raise invalid(("body", "products"), f"order value exceeds {MAX_ORDER_VALUE}")
    return total


def _asset(intake: NewOrder, spec: AssetIn, loc: tuple[str | int, ...], **owner: Any) -> None:
    asset = Asset(
        order=intake.order,
        name=spec.name,
        content_type=asset_files.guess_content_type(spec.name, spec.contentType),
        **owner,
    )
    if spec.contentBase64 is not None:
        data = asset_files.decode_inline(spec.contentBase64, (*loc, "contentBase64"))
        asset.source, asset.state = Asset.Source.INLINE, Asset.State.READY
        intake.assets.append((asset, data))
    else:
        asset.source, asset.state = Asset.Source.URL, Asset.State.PENDING
        asset.source_url = spec.url or ""
        intake.assets.append((asset, None))


def _build(space: Space, payload: OrderIn, flow_version: FlowVersion | None) -> NewOrder:
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
        flow_version=flow_version,
    )
    intake = NewOrder(order)
    for i, spec in enumerate(payload.assets):
        _asset(intake, spec, ("body", "assets", i))
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
        )
        intake.products.append(product)
        for i, spec in enumerate(p.assets):
            _asset(intake, spec, (*loc, "assets", i), product=product)
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
                _asset(
                    intake,
                    spec,
                    (*loc, "parts", part_index, "assets", i),
                    product=product,
                    part=part,
                )
    return intake


def resolve_flow(space: Space, flow_key: str | None) -> FlowVersion | None:
    if not flow_key:
        return None
    version = latest_version(space=space, name=flow_key)
    if version is None:
        raise invalid(("body", "flowKey"), f"space {space.key} has no active flow {flow_key!r}")
    return version


def create_order(*, space: Space, payload: OrderIn, actor: str = "") -> Order:
    """Store a new order with its products, parts and assets (see `intake_order`)."""
    return intake_order(space=space, payload=payload, actor=actor).order


def intake_order(*, space: Space, payload: OrderIn, actor: str = "") -> NewOrder:
    """Store a new order with its products, parts and assets; runs inside the caller's
    transaction when there is one (the idempotency record commits with it). Returns the rows
    as written, so the response needs no second read."""
    intake = _build(space, payload, resolve_flow(space, payload.flowKey))
    try:
        # No savepoint (two statements less per order): a failure dooms the caller's
        # transaction anyway, and a duplicate is told by the constraint it violates.
        with transaction.atomic(savepoint=False):
            _write(intake, actor)
            return intake
    except IntegrityError as exc:
        asset_files.delete_files(a for a, _ in intake.assets)
        if _violates(exc, THIRD_PARTY_ID_UNIQUE):
            raise ApiError(
                409,
                f"An order with thirdPartyOrderId {payload.thirdPartyOrderId!r} exists "
                "in this space.",
                errors=[{"loc": ["body", "thirdPartyOrderId"], "msg": "already used"}],
            ) from exc
        raise
    except BaseException:
        asset_files.delete_files(a for a, _ in intake.assets)
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


def _write(intake: NewOrder, actor: str) -> Order:
    # Plain INSERTs (core.rows): intake is the API's busiest write.
    order = intake.order
    rows.insert([order])
    rows.insert(intake.products)
    rows.insert(intake.parts)
    for asset, data in intake.assets:
        if data is not None:
            asset_files.store_bytes(asset, data)
    rows.insert([a for a, _ in intake.assets])
    created = OrderEvent(
        order=order,
        kind="order.created",
        message=f"Order {order.name} created",
        actor=actor,
        data={
            "products": len(intake.products),
            "parts": len(intake.parts),
            "assets": len(intake.assets),
        },
    )
    version = order.flow_version if order.flow_version_id else None
    assigned = [flow_assigned_event(order, version, actor)] if version else []
    rows.insert([created, *assigned])  # one INSERT, in this order
    if version is not None:
        from fabflow.flows.engine.events import start_flow

        start_flow(order=order, version=version, actor=actor)
    _fetch_on_commit([a.id for a, data in intake.assets if data is None])
    return order


def attach_assets(
    *, order: Order, specs: list[dict[str, Any]], actor: str, loc: tuple[str | int, ...]
) -> list[Asset]:
    """Attach inline or URL assets (e.g. from connector feedback) to an order, a product or a
    part of it; call inside a transaction. URL assets are fetched by a job after commit."""
    intake = NewOrder(order)
    products = {str(p.id): p for p in order.products.all()}
    parts = {str(p.id): p for p in order.parts.all()}
    for i, spec in enumerate(specs):
        part = parts.get(str(spec.get("partId")))
        product = products.get(str(spec.get("productId"))) or (part.product if part else None)
        if spec.get("partId") and part is None:
            raise invalid((*loc, i, "partId"), "no such part in this order")
        if spec.get("productId") and str(spec["productId"]) not in products:
            raise invalid((*loc, i, "productId"), "no such product in this order")
        fields = {k: spec.get(k) for k in ("name", "contentType", "contentBase64", "url")}
        _asset(intake, AssetIn.model_validate(fields), (*loc, i), product=product, part=part)
    try:
        for asset, data in intake.assets:
            if data is not None:
                asset_files.store_bytes(asset, data)
        Asset.objects.bulk_create([a for a, _ in intake.assets])
    except BaseException:
        asset_files.delete_files(a for a, _ in intake.assets)
        raise
    _fetch_on_commit([a.id for a, data in intake.assets if data is None])
    record_event(
        order,
        "asset.added",
        f"{len(intake.assets)} asset(s) attached",
        actor=actor,
        data={"assetIds": [str(a.id) for a, _ in intake.assets]},
    )
    return [a for a, _ in intake.assets]


def _fetch_on_commit(asset_ids: list[Any]) -> None:
    if asset_ids:
        from fabflow.orders.jobs import enqueue_fetches

        transaction.on_commit(lambda: enqueue_fetches(asset_ids))


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
    """Attach an uploaded file to an order (and optionally one of its products or parts)."""
    asset = Asset(
        order=order,
        product=product or (part.product if part else None),
        part=part,
        name=name,
        content_type=asset_files.guess_content_type(name, content_type),
        source=Asset.Source.UPLOAD,
        state=Asset.State.READY,
    )
    chunks = handle.chunks()
    handle.seek(0)
    checked_size, digest = asset_files.hash_stream(chunks)
    handle.seek(0)
    asset_files.store_file(asset, handle, size=checked_size, sha256=digest)
    try:
        with transaction.atomic():
            asset.save(force_insert=True)
            record_event(
                order,
                "asset.added",
                f"Asset {name} uploaded",
                actor=actor,
                data={"assetId": str(asset.id), "size": checked_size},
            )
    except BaseException:
        asset_files.delete_files([asset])
        raise
    return asset
