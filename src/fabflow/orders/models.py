"""Orders, their products, parts, assets and the append-only order timeline."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import models
from django.db.models import Value
from django.db.models.functions import Coalesce

from fabflow.accounts.models import Organization, Space
from fabflow.core.models import UUIDModel
from fabflow.core.search import TextSearch

# Orders without a deadline sort after every real one.
FAR_FUTURE = datetime.fromisoformat("9999-12-31T00:00:00+00:00")


class OrderStatus(models.TextChoices):
    CREATED = "created", "Created"
    IN_PROGRESS = "in_progress", "In progress"
    SUCCESS = "success", "Success"
    UNHEALTHY = "unhealthy", "Unhealthy"
    FAILURE = "failure", "Failure"


# What the lists search (`q`): the trigram index, the SQLite FTS table and the filter come from it.
ORDER_SEARCH = TextSearch("order", "name", "third_party_order_id", "customer_email")


class Order(UUIDModel):
    """A request for something to be made, created by a shop through the API."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    space = models.ForeignKey(Space, on_delete=models.PROTECT, related_name="orders")
    name = models.CharField(max_length=200)
    third_party_order_id = models.CharField(max_length=200)
    status = models.CharField(
        max_length=20, choices=OrderStatus.choices, default=OrderStatus.CREATED
    )
    # Denormalised sum of units x unit value, so lists can sort and filter on it.
    value = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0.00"))
    currency = models.CharField(max_length=3, default="EUR")
    deadline = models.DateTimeField(null=True, blank=True)
    tags = models.JSONField(default=list, blank=True)
    # "|vip|rush|": lets every database filter by tag with one indexed-friendly LIKE.
    tag_index = models.CharField(max_length=2000, blank=True, editable=False)
    customer_email = models.EmailField(max_length=254, blank=True)
    customer_info = models.JSONField(default=dict, blank=True)
    addresses = models.JSONField(default=list, blank=True)
    data = models.JSONField(default=dict, blank=True)
    update_url = models.URLField(max_length=2000, blank=True)
    # The flow the order runs, by name and version number: written by the flows app through
    # `services.assign_flow` (orders never import flows); empty until a flow is assigned.
    flow_key = models.CharField(max_length=200, blank=True)
    flow_version_number = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    search = ORDER_SEARCH

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["space", "third_party_order_id"], name="order_unique_third_party_id"
            )
        ]
        # One index per sort key of the lists, led by the organization (the web app's scope).
        indexes = [
            models.Index(fields=["space", "-created_at", "-id"], name="order_space_created"),
            # With the deadline, a created range sorted by deadline reads only this index (the
            # range, then a sort), not a table row per order in the range; with the searched
            # columns (PostgreSQL INCLUDE, migration 0007), a search walks it index-only.
            models.Index(
                fields=["organization", "-created_at", "-id", "deadline"],
                name="order_org_created",
                include=ORDER_SEARCH.columns,
            ),
            models.Index(fields=["organization", "status", "-created_at"], name="order_org_status"),
            models.Index(fields=["organization", "value", "id"], name="order_org_value"),
            models.Index(fields=["organization", "name", "id"], name="order_org_name"),
            models.Index(
                "organization",
                Coalesce("deadline", Value(FAR_FUTURE)),
                "id",
                name="order_org_deadline",
            ),
            *ORDER_SEARCH.indexes,
        ]

    def __str__(self) -> str:
        return self.name


# The configuration is searched as its JSON text (a value like "silver", or a parameter's name).
PRODUCT_SEARCH = TextSearch("product", "name", "configuration_id", "configuration", "order__name")
# What the sort indexes cover: the searched columns but the configuration, whose size has no
# bound (a B-tree entry takes at most 2,704 bytes on PostgreSQL).
PRODUCT_COVERED = [c for c in PRODUCT_SEARCH.columns if c != "configuration"]


class UnescapedJSON(json.JSONEncoder):
    """JSON text with non-ASCII characters as they are (PostgreSQL's jsonb keeps them so), so
    that SQLite's text search finds "Weißgold" in a configuration."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**{**kwargs, "ensure_ascii": False})


class Product(UUIDModel):
    """One line of an order: a configured commodity."""

    # The order's organization, copied so that organization-wide lists need no join.
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="products")
    position = models.PositiveIntegerField(default=0)
    name = models.CharField(max_length=200)
    configuration_id = models.CharField(max_length=200, blank=True)
    configuration = models.JSONField(default=dict, blank=True, encoder=UnescapedJSON)
    units = models.PositiveIntegerField(default=1)
    unit_value = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0.00"))
    deadline = models.DateTimeField(null=True, blank=True)
    # Mesh checks of a rendered product (docs/production.md).
    manufacturing_data = models.JSONField(default=dict, blank=True)

    search = PRODUCT_SEARCH

    class Meta:
        ordering = ["order", "position"]
        # The sort indexes carry the searched columns (PostgreSQL INCLUDE; ignored on SQLite),
        # so a searched page's ids come from an index-only scan (see core/pagination.py).
        indexes = [
            models.Index(
                fields=["organization", "-created_at", "-id"],
                name="product_org_created",
                include=PRODUCT_COVERED,
            ),
            models.Index(
                fields=["organization", "name", "id"],
                name="product_org_name",
                include=[c for c in PRODUCT_COVERED if c != "name"],
            ),
            models.Index(
                fields=["organization", "units", "id"],
                name="product_org_units",
                include=PRODUCT_COVERED,
            ),
            models.Index(
                fields=["organization", "unit_value", "id"],
                name="product_org_value",
                include=PRODUCT_COVERED,
            ),
            *PRODUCT_SEARCH.indexes,
        ]

    def __str__(self) -> str:
        return self.name


PART_SEARCH = TextSearch("part", "name", "product__name", "order__name")


class Part(UUIDModel):
    """What a product is made of: a producible or stock item."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="parts")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="parts")
    position = models.PositiveIntegerField(default=0)
    name = models.CharField(max_length=200)
    data = models.JSONField(default=dict, blank=True)
    manufacturing_data = models.JSONField(default=dict, blank=True)

    search = PART_SEARCH

    class Meta:
        ordering = ["product", "position"]
        indexes = [
            models.Index(
                fields=["organization", "-created_at", "-id"],
                name="part_org_created",
                include=PART_SEARCH.columns,
            ),
            models.Index(
                fields=["organization", "name", "id"],
                name="part_org_name",
                include=[c for c in PART_SEARCH.columns if c != "name"],
            ),
            *PART_SEARCH.indexes,
        ]

    def __str__(self) -> str:
        return self.name


def asset_upload_to(asset: Asset, filename: str) -> str:
    return f"assets/{asset.order_id}/{asset.id}/{filename}"


class Asset(UUIDModel):
    """A file attached to an order, a product or a part."""

    class Source(models.TextChoices):
        INLINE = "inline", "Inline"
        URL = "url", "URL"
        UPLOAD = "upload", "Upload"
        FLOW = "flow", "Flow"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="assets")
    product = models.ForeignKey(
        Product, on_delete=models.CASCADE, null=True, blank=True, related_name="assets"
    )
    part = models.ForeignKey(
        Part, on_delete=models.CASCADE, null=True, blank=True, related_name="assets"
    )
    name = models.CharField(max_length=255)
    file = models.FileField(upload_to=asset_upload_to, max_length=500, blank=True)
    content_type = models.CharField(max_length=200, blank=True)
    size = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices)
    source_url = models.URLField(max_length=2000, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.READY)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.name


class OrderEvent(models.Model):
    """An append-only timeline entry of an order."""

    id = models.BigAutoField(primary_key=True)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=50)
    message = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    actor = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["order", "id"]
        indexes = [models.Index(fields=["order", "id"], name="event_order_id")]

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


class IdempotencyKey(models.Model):
    """The first response to a POST /orders with an Idempotency-Key, for replays."""

    class State(models.TextChoices):
        IN_PROGRESS = "in_progress", "In progress"
        DONE = "done", "Done"

    id = models.BigAutoField(primary_key=True)
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    state = models.CharField(max_length=12, choices=State.choices, default=State.IN_PROGRESS)
    locked_at = models.DateTimeField()
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    order = models.ForeignKey(Order, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["space", "key"], name="idempotency_unique_key")
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.state})"


class UpdateDelivery(models.Model):
    """One POST to an order's updateUrl (a status change or feedback), retried until done."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=50)
    url = models.URLField(max_length=2000)
    body = models.JSONField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.event} → {self.url} ({self.state})"


class DeliveryAttempt(models.Model):
    """The log line of one attempt to deliver an update."""

    id = models.BigAutoField(primary_key=True)
    delivery = models.ForeignKey(UpdateDelivery, on_delete=models.CASCADE, related_name="log")
    attempt = models.PositiveIntegerField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["delivery", "attempt"]

    def __str__(self) -> str:
        return f"attempt {self.attempt}: {self.status_code or self.error}"
