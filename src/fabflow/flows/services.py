"""Writes for flows: creation and new versions (name and space never change)."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from fabflow.accounts.models import Space
from fabflow.core.errors import Conflict, Invalid
from fabflow.flows.definition import validate_definition
from fabflow.flows.handlers.registry import payload_models
from fabflow.flows.models import Flow, FlowVersion


def _check(definition: Any) -> None:
    errors = validate_definition(definition, payload_models())
    if errors:
        raise Invalid(
            "The flow definition is invalid.",
            problems=[(("body", "definition", *e.loc), e.msg) for e in errors],
        )


def create_flow(*, space: Space, name: str, definition: Any, actor: str = "") -> Flow:
    _check(definition)
    try:
        with transaction.atomic():
            flow = Flow.objects.create(space=space, name=name, current_version=1)
            FlowVersion.objects.create(flow=flow, number=1, definition=definition, created_by=actor)
    except IntegrityError as exc:
        raise Conflict(
            f"Space {space.key} already has a flow named {name!r}.",
            field=("body", "name"),
            reason="already used",
        ) from exc
    return flow


def save_version(*, flow: Flow, definition: Any, actor: str = "") -> FlowVersion:
    """Store a new version; running orders keep the version they started with."""
    _check(definition)
    with transaction.atomic():
        # update() skips auto_now: the list's "last edited" is set here.
        Flow.objects.filter(pk=flow.pk).update(
            current_version=F("current_version") + 1, updated_at=timezone.now()
        )
        flow.refresh_from_db(fields=["current_version", "updated_at"])
        return FlowVersion.objects.create(
            flow=flow, number=flow.current_version, definition=definition, created_by=actor
        )
