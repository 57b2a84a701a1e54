"""Request and response schemas of the orders API (camelCase, as the public contract says)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import EmailValidator, URLValidator
from ninja import Schema
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from fabflow.core.types import UtcDatetime

# One order's size limits (docs/api.md "Limits", settings FABFLOW_MAX_*): read when this module
# is imported, so the OpenAPI document shows them. A list over its own limit is a 422 at the
# list; the totals of an order (parts, assets) are checked on `products`, which comes last.
MAX_PRODUCTS = settings.FABFLOW_MAX_PRODUCTS_PER_ORDER
MAX_PARTS = settings.FABFLOW_MAX_PARTS_PER_PRODUCT
MAX_PARTS_PER_ORDER = settings.FABFLOW_MAX_PARTS_PER_ORDER
MAX_ASSETS = settings.FABFLOW_MAX_ASSETS_PER_ORDER

Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
ShortText = Annotated[str, StringConstraints(max_length=200)]
Tag = Annotated[
    str, StringConstraints(min_length=1, max_length=50, strip_whitespace=True, pattern=r"^[^|,]+$")
]
Money = Annotated[
    Decimal, Field(ge=0, le=Decimal("9999999999.99"), decimal_places=2, max_digits=12)
]

_email = EmailValidator()
_url = URLValidator(schemes=["http", "https"])


def _check(validator: Any, value: str, message: str) -> str:
    try:
        validator(value)
    except DjangoValidationError as exc:
        raise ValueError(message) from exc
    return value


def _check_email(value: str) -> str:
    return _check(_email, value, "not a valid e-mail address")


def _check_url(value: str) -> str:
    return _check(_url, value, "not a valid http(s) URL")


class InputSchema(BaseModel):
    """An input document: plain pydantic (not a ninja schema), so that services can take it
    as a validated value; the API uses the same class as its request body."""

    model_config = ConfigDict(extra="forbid")


class AssetIn(InputSchema):
    name: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    contentType: ShortText | None = None
    contentBase64: str | None = None
    url: Annotated[str, StringConstraints(max_length=2000)] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> AssetIn:
        if (self.contentBase64 is None) == (self.url is None):
            raise ValueError("give exactly one of contentBase64 and url")
        return self

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: str | None) -> str | None:
        return _check_url(value) if value is not None else value


class PartIn(InputSchema):
    name: Name
    data: dict[str, Any] = Field(default_factory=dict)
    manufacturingData: dict[str, Any] = Field(default_factory=dict)
    assets: list[AssetIn] = Field(default_factory=list, max_length=MAX_ASSETS)


class ProductIn(InputSchema):
    name: Name
    configurationId: ShortText = ""
    configuration: dict[str, Any] = Field(default_factory=dict)
    units: int = Field(default=1, ge=1, le=1_000_000)
    value: Money = Decimal("0.00")
    deadline: UtcDatetime | None = None
    assets: list[AssetIn] = Field(default_factory=list, max_length=MAX_ASSETS)
    parts: list[PartIn] = Field(default_factory=list, max_length=MAX_PARTS)


class CustomerInfo(InputSchema):
    name: ShortText = ""
    email: ShortText = ""
    phone: ShortText = ""
    company: ShortText = ""
    message: Annotated[str, StringConstraints(max_length=5000)] = ""


class AddressIn(InputSchema):
    addressType: ShortText = "shipping"
    purpose: ShortText = ""
    data: dict[str, Any] = Field(default_factory=dict)


class OrderIn(InputSchema):
    spaceKey: ShortText | None = None
    flowKey: ShortText | None = None
    thirdPartyOrderId: Name
    name: Name | None = None
    deadline: UtcDatetime | None = None
    updateUrl: Annotated[str, StringConstraints(max_length=2000)] | None = None
    customerEmail: Annotated[str, StringConstraints(max_length=254)] | None = None
    customerInfo: CustomerInfo = Field(default_factory=CustomerInfo)
    addresses: list[AddressIn] = Field(default_factory=list, max_length=20)
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    data: dict[str, Any] = Field(default_factory=dict)
    assets: list[AssetIn] = Field(default_factory=list, max_length=MAX_ASSETS)
    products: list[ProductIn] = Field(
        min_length=1,
        max_length=MAX_PRODUCTS,
        description=f"At most {MAX_PARTS_PER_ORDER} parts and {MAX_ASSETS} assets in all.",
    )

    @field_validator("products")
    @classmethod
    def _within_order_limits(cls, value: list[ProductIn], info: ValidationInfo) -> list[ProductIn]:
        parts = sum(len(p.parts) for p in value)
        if parts > MAX_PARTS_PER_ORDER:
            raise ValueError(
                f"an order takes at most {MAX_PARTS_PER_ORDER} parts in all; this one has {parts}"
            )
        assets = len(info.data.get("assets", ())) + sum(
            len(p.assets) + sum(len(part.assets) for part in p.parts) for p in value
        )
        if assets > MAX_ASSETS:
            raise ValueError(
                f"an order takes at most {MAX_ASSETS} assets in all (on the order, its products "
                f"and parts); this one has {assets}"
            )
        return value

    @field_validator("customerEmail")
    @classmethod
    def _valid_email(cls, value: str | None) -> str | None:
        return _check_email(value) if value else value

    @field_validator("updateUrl")
    @classmethod
    def _valid_update_url(cls, value: str | None) -> str | None:
        return _check_url(value) if value else value


class StartIn(InputSchema):
    flowKey: ShortText | None = None


class AssetOut(Schema):
    id: UUID
    name: str
    contentType: str
    size: int | None
    sha256: str
    state: Literal["pending", "ready", "failed"]
    source: Literal["inline", "url", "upload", "flow"]
    error: str
    createdAt: datetime
    downloadUrl: str | None


class PartOut(Schema):
    id: UUID
    orderId: UUID
    productId: UUID
    name: str
    data: dict[str, Any]
    manufacturingData: dict[str, Any]
    createdAt: datetime
    assets: list[AssetOut]


class ProductOut(Schema):
    id: UUID
    orderId: UUID
    name: str
    configurationId: str
    configuration: dict[str, Any]
    units: int
    value: str = Field(description="Value of one unit, EUR, two decimals")
    deadline: datetime | None
    createdAt: datetime
    thumbnailUrl: str | None = Field(
        description="Download link (expiring) of the product's preview: the PNG that "
        "generate-production-files made, else its first image, else its parts' first"
    )
    manufacturingData: dict[str, Any]
    assets: list[AssetOut]
    parts: list[PartOut]


class FlowRef(Schema):
    key: str
    version: int


class TaskOut(Schema):
    id: UUID
    orderId: UUID
    key: str
    handlerKey: str
    stage: int
    attempt: int
    state: Literal["pending", "running", "waiting", "succeeded", "failed", "cancelled"]
    timedOut: bool
    reason: str
    result: dict[str, Any]
    title: str
    outcomes: list[str]
    createdAt: datetime
    startedAt: datetime | None
    finishedAt: datetime | None
    timeoutAt: datetime | None
    retrying: bool = False
    deliveries: int = 0
    nextAttemptAt: datetime | None = None
    lastError: str = ""


class OrderSummary(Schema):
    id: UUID
    name: str
    thirdPartyOrderId: str
    spaceKey: str
    flow: FlowRef | None
    status: Literal["created", "in_progress", "success", "unhealthy", "failure"]
    value: str = Field(description="Sum of units x unit value, EUR, two decimals")
    currency: str
    createdAt: datetime
    deadline: datetime | None
    tags: list[str]
    url: str


class OrderOut(OrderSummary):
    customerEmail: str
    customerInfo: dict[str, Any]
    addresses: list[dict[str, Any]]
    data: dict[str, Any]
    updateUrl: str | None
    assets: list[AssetOut]
    products: list[ProductOut]
    tasks: list[TaskOut]


class OrderPage(Schema):
    items: list[OrderSummary]
    next: str | None


class ProductPage(Schema):
    items: list[ProductOut]
    next: str | None


class PartPage(Schema):
    items: list[PartOut]
    next: str | None


class EventOut(Schema):
    id: int
    kind: str
    message: str
    data: dict[str, Any]
    actor: str
    createdAt: datetime


class EventPage(Schema):
    items: list[EventOut]
    next: str | None
