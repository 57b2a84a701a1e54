"""Reads for flows."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.db.models import F, QuerySet

from fabflow.accounts.auth import Principal
from fabflow.accounts.models import Space
from fabflow.core.errors import Invalid
from fabflow.flows.models import Flow, FlowVersion


def latest_version(*, space: Space, name: str) -> FlowVersion | None:
    """The newest version of the space's active flow called `name`: the flow's number of its
    current version (intake asks this for every order), then that version from a cache."""
    active = Flow.objects.filter(space=space, name=name, archived=False)
    try:
        # Unique by space and name: `get` asks for no ordering, unlike `first`.
        found = active.values_list("pk", "current_version").get()
    except Flow.DoesNotExist:
        return None
    return numbered_version(*found)


def active_version(*, space: Space, name: str) -> FlowVersion:
    found = latest_version(space=space, name=name)
    if found is None:
        raise Invalid(f"space {space.key} has no active flow {name!r}", field=("body", "flowKey"))
    return found


def named_version(*, space: Space, name: str, number: int | None) -> FlowVersion:
    found = Flow.objects.filter(space=space, name=name).values_list("pk", flat=True).first()
    if found is None or number is None:
        raise Invalid(f"the order's flow {name!r} is gone", field=("body", "flowKey"))
    return numbered_version(found, number)


@lru_cache(maxsize=512)
def numbered_version(flow_id: Any, number: int) -> FlowVersion:
    """A flow's version `number`, with its flow. Cached: a version never changes once written
    (a save makes the next number, in the transaction that raises `current_version`), and
    the part of its flow that readers use, the name, never changes either."""
    return FlowVersion.objects.select_related("flow").get(flow_id=flow_id, number=number)


@lru_cache(maxsize=512)
def version(pk: Any) -> FlowVersion:
    """A flow version by id, with its flow (cached, as `numbered_version`)."""
    return FlowVersion.objects.select_related("flow").get(pk=pk)


def flows_for(who: Principal) -> QuerySet[Flow]:
    return Flow.objects.filter(**who.space_filter()).select_related("space")


def current_versions(flows: list[Flow]) -> dict[tuple[Any, int], FlowVersion]:
    """The current version of each of the (already scoped) `flows`, in one query."""
    rows = FlowVersion.objects.filter(flow__in=flows, number=F("flow__current_version"))
    return {(v.flow_id, v.number): v for v in rows}


def current_version(flow: Flow) -> FlowVersion:
    """The version the (already scoped) flow runs new orders with."""
    return FlowVersion.objects.get(flow=flow, number=flow.current_version)
