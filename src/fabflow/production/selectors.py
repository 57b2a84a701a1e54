"""Reads of parametric models and their versions."""

from __future__ import annotations

from datetime import datetime

from django.db.models import F, QuerySet

from fabflow.accounts.auth import Principal
from fabflow.production.models import ModelVersion, ParametricModel


def models_for(who: Principal) -> QuerySet[ParametricModel]:
    """The models the caller may see: a secret key's space, a member's organization."""
    scope = {"space": who.space} if who.space is not None else {"organization": who.organization}
    return ParametricModel.objects.filter(**scope).select_related("space")


def current_version(model: ParametricModel) -> ModelVersion:
    """The version new orders render with."""
    return ModelVersion.objects.select_related("model__space").get(
        model=model, number=model.current_version
    )


def versions(model: ParametricModel) -> QuerySet[ModelVersion]:
    """Every version of the (already scoped) model, newest first, without their source."""
    return ModelVersion.objects.filter(model=model).defer("source").order_by("-number")


def version_for_order(
    space_key: str, model_name: str, order_created_at: datetime
) -> ModelVersion | None:
    """The version an order renders: the newest saved at or before the order was created, so
    an order keeps the version it started with; the first one for an order older than the
    model. None when the space has no model of that name."""
    found = ModelVersion.objects.select_related("model__space").filter(
        model__space__key=space_key, model__name=model_name
    )
    started = found.filter(created_at__lte=order_created_at).order_by("-number").first()
    return started or found.order_by("number").first()


def current_versions(models: list[ParametricModel]) -> dict[object, ModelVersion]:
    """The current version of each of the (already scoped) models, in one query."""
    rows = ModelVersion.objects.filter(model__in=models, number=F("model__current_version"))
    return {v.model_id: v for v in rows}
