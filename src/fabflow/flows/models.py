"""Order flows and their immutable versions."""

from __future__ import annotations

from django.db import models

from fabflow.accounts.models import Space
from fabflow.core.models import UUIDModel


class Flow(UUIDModel):
    """An order flow, unique by space and name; both are fixed once created."""

    space = models.ForeignKey(Space, on_delete=models.PROTECT, related_name="flows")
    name = models.CharField(max_length=200)
    archived = models.BooleanField(default=False)
    current_version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["space", "name"], name="flow_unique_name_per_space")
        ]

    def __str__(self) -> str:
        return f"{self.space.key}/{self.name}"


class FlowVersion(UUIDModel):
    """One saved definition of a flow; orders pin the version they started with."""

    flow = models.ForeignKey(Flow, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    definition = models.JSONField()
    created_by = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["flow", "number"], name="flow_version_unique_number")
        ]
        ordering = ["flow", "-number"]

    def __str__(self) -> str:
        return f"{self.flow} v{self.number}"
