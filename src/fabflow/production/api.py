"""Parametric models endpoints: list, create, read, new version, preview picture."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Status

from fabflow.accounts import selectors as account_selectors
from fabflow.accounts.auth import Principal, principal
from fabflow.accounts.models import Space
from fabflow.core.pagination import MAX_LIMIT
from fabflow.core.problems import ApiError, invalid
from fabflow.orders.selectors import get_or_404
from fabflow.production import selectors, services
from fabflow.production.models import ModelVersion, ParametricModel
from fabflow.production.schemas import (
    ModelDetailOut,
    ModelIn,
    ModelOut,
    ModelPage,
    ModelUpdateIn,
    PreviewIn,
)

router = Router(tags=["models"])
PNG_RESPONSE = {"200": {"description": "The preview picture", "content": {"image/png": {}}}}


def _space(who: Principal, key: str | None, where: str = "body") -> Space:
    if who.space is not None:
        if key and key != who.space.key:
            raise ApiError(403, "This secret key belongs to another space.")
        return who.space
    space = account_selectors.space_by_key(organization=who.organization, key=key or "")
    if space is None:
        raise invalid((where, "spaceKey"), "unknown space")
    return space


def model_json(
    model: ParametricModel, version: ModelVersion, warnings: list[str] | None = None
) -> dict[str, Any]:
    return {
        "id": model.id,
        "spaceKey": model.space.key,
        "name": model.name,
        "kind": model.kind,
        "version": version.number,
        "createdAt": model.created_at,
        "updatedAt": model.updated_at,
        "source": version.source,
        "generator": version.generator,
        "parameters": version.parameters,
        "warnings": warnings or [],
    }


@contextmanager
def _source_errors() -> Iterator[None]:
    """A refused source answers 422 naming `source` and the line (`line` in the error)."""
    try:
        yield
    except services.SourceError as exc:
        error: dict[str, Any] = {"loc": ["body", "source"], "msg": exc.reason}
        if exc.line is not None:
            error["line"] = exc.line
        raise ApiError(422, exc.message, errors=[error]) from exc


@router.get("/models", response=ModelPage, operation_id="list_models", exclude_none=True)
def list_models(
    request: HttpRequest,
    spaceKey: str | None = Query(None, max_length=100),  # type: ignore[type-arg]
) -> dict[str, Any]:
    who = principal(request)
    models = selectors.models_for(who)
    if spaceKey:
        models = models.filter(space=_space(who, spaceKey, "query"))
    rows = list(models.order_by("space__key", "name")[:MAX_LIMIT])
    current = selectors.current_versions(rows)
    return {"items": [model_json(m, current[m.id]) for m in rows], "next": None}


@router.post("/models", response={201: ModelOut}, operation_id="create_model", exclude_none=True)
def create_model(request: HttpRequest, payload: ModelIn) -> Any:
    """Create a model with its first version: 201 with the parameters found in it."""
    who = principal(request)
    space = _space(who, payload.spaceKey)
    with _source_errors():
        saved = services.create_model(
            space=space,
            name=payload.name,
            kind=payload.kind,
            source=payload.source or "",
            generator=payload.generator or "",
            actor=who.actor,
        )
    return Status(201, model_json(saved.version.model, saved.version, saved.warnings))


@router.get(
    "/models/{model_id}", response=ModelDetailOut, operation_id="get_model", exclude_none=True
)
def get_model(request: HttpRequest, model_id: UUID) -> dict[str, Any]:
    """The model with its current version, and the list of its versions."""
    model = get_or_404(selectors.models_for(principal(request)), model_id)
    versions = [
        {"number": v.number, "createdAt": v.created_at, "createdBy": v.created_by}
        for v in selectors.versions(model)
    ]
    return {**model_json(model, selectors.current_version(model)), "versions": versions}


@router.put("/models/{model_id}", response=ModelOut, operation_id="update_model", exclude_none=True)
def update_model(request: HttpRequest, model_id: UUID, payload: ModelUpdateIn) -> Any:
    """Save a new version; name, space and kind never change, and running orders keep the
    version they started with."""
    who = principal(request)
    model = get_or_404(selectors.models_for(who), model_id)
    with _source_errors():
        saved = services.save_version(
            model=model,
            source=payload.source or "",
            generator=payload.generator or "",
            actor=who.actor,
        )
    return model_json(model, saved.version, saved.warnings)


@router.post(
    "/models/{model_id}/preview",
    response={200: None},
    operation_id="preview_model",
    openapi_extra={"responses": PNG_RESPONSE},
)
def preview_model(request: HttpRequest, model_id: UUID, payload: PreviewIn) -> HttpResponse:
    """A PNG of the current version rendered with `configuration` (cached: a web
    configurator may call this as the customer types)."""
    model = get_or_404(selectors.models_for(principal(request)), model_id)
    return HttpResponse(
        services.preview(selectors.current_version(model), payload.configuration),
        content_type="image/png",
        headers={"Cache-Control": "private, max-age=300"},
    )
