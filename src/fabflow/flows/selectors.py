"""Reads for flows."""

from __future__ import annotations

from fabflow.accounts.models import Space
from fabflow.flows.models import FlowVersion


def latest_version(*, space: Space, name: str) -> FlowVersion | None:
    """The newest version of the space's active flow called `name`."""
    return (
        FlowVersion.objects.select_related("flow")
        .filter(flow__space=space, flow__name=name, flow__archived=False)
        .order_by("-number")
        .first()
    )
