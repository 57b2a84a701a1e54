"""Request and response schemas of the flows and tasks API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from ninja import Schema
from pydantic import BeforeValidator, ConfigDict, Field, StringConstraints

from fabflow.core.problems import ApiError
from fabflow.flows.definition import FlowStage, size_errors
from fabflow.orders.schemas import AssetIn, TaskOut


class _In(Schema):
    model_config = ConfigDict(extra="forbid")


FlowName = Annotated[str, StringConstraints(min_length=5, max_length=200, strip_whitespace=True)]


def _within_caps(raw: Any) -> Any:
    """The definition's caps, checked before its stages are read. ApiError is not one of the
    errors pydantic collects: it leaves validation as it is, naming the field over a cap."""
    errors = size_errors(raw)
    if errors:
        raise ApiError(
            422,
            "The flow definition is over a limit.",
            errors=[{"loc": ["body", "definition", *e.loc], "msg": e.msg} for e in errors],
        )
    return raw


Definition = Annotated[list[FlowStage], BeforeValidator(_within_caps)]


class FlowIn(_In):
    spaceKey: Annotated[str, StringConstraints(max_length=100)] | None = None
    name: FlowName
    definition: Definition = Field(json_schema_extra={"description": "IFlowStage[]"})


class FlowUpdateIn(_In):
    definition: Definition


class ValidateIn(_In):
    definition: Any


class ValidationOut(Schema):
    valid: bool
    errors: list[dict[str, Any]] = []
    warnings: list[dict[str, Any]] = []  # the definition stays valid


class FlowOut(Schema):
    id: UUID
    spaceKey: str
    name: str
    version: int
    archived: bool
    createdAt: datetime
    updatedAt: datetime
    definition: list[dict[str, Any]]


class FlowPage(Schema):
    items: list[FlowOut]
    next: str | None


TaskState = Literal["pending", "running", "waiting", "succeeded", "failed", "cancelled"]


class TaskPage(Schema):
    items: list[TaskOut]
    next: str | None


class CompleteIn(_In):
    outcome: Annotated[str, StringConstraints(min_length=1, max_length=100)] = "done"
    comment: Annotated[str, StringConstraints(max_length=5000)] = ""


class ReasonIn(_In):
    """Why staff confirm a confirmation on the customer's behalf, or skip it."""

    reason: Annotated[str, StringConstraints(min_length=1, max_length=2000, strip_whitespace=True)]


class FeedbackAssetIn(AssetIn):
    """A file the connector produced; attached to a part or product of the order if named."""

    partId: UUID | None = None
    productId: UUID | None = None


class FeedbackIn(_In):
    status: Literal["progress", "success", "failure"]
    message: Annotated[str, StringConstraints(max_length=5000)] = ""
    data: dict[str, Any] = Field(default_factory=dict)
    manufacturingData: dict[UUID, dict[str, Any]] = Field(
        default_factory=dict, description="manufacturing data by part id"
    )
    assets: list[FeedbackAssetIn] = Field(default_factory=list, max_length=100)


class AcceptedOut(Schema):
    accepted: bool
    taskId: UUID
