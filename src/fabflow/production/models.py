"""Parametric models of a space and their immutable versions (shaped like flows)."""

from __future__ import annotations

from django.db import models

from fabflow.accounts.models import Organization, Space
from fabflow.core.models import UUIDModel


class ParametricModel(UUIDModel):
    """A model that production renders with a product's configuration; unique by space and
    name, and both, like its kind, are fixed once created."""

    class Kind(models.TextChoices):
        OPENSCAD = "openscad", "OpenSCAD"
        PYTHON = "python", "Python generator"

    # The space's organization, kept on the row so the web app lists models without a join.
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="parametric_models"
    )
    space = models.ForeignKey(Space, on_delete=models.PROTECT, related_name="parametric_models")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    current_version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["space", "name"], name="model_unique_name_per_space")
        ]

    def __str__(self) -> str:
        return f"{self.space.key}/{self.name}"


class ModelVersion(UUIDModel):
    """One saved version of a model; an order renders the version it started with.

    `source` is the OpenSCAD text (openscad models); `generator` the entry-point name of a
    python model. `parameters` are what was read from them when the version was saved.
    """

    model = models.ForeignKey(ParametricModel, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    source = models.TextField(blank=True)
    generator = models.CharField(max_length=200, blank=True)
    parameters = models.JSONField(default=list)
    created_by = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model", "number"], name="model_version_unique_number")
        ]
        ordering = ["model", "-number"]

    def __str__(self) -> str:
        return f"{self.model} v{self.number}"
