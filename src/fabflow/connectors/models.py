"""Connections: what a connector needs to reach one partner account (docs/connectors/)."""

from __future__ import annotations

from django.db import models
from encrypted_fields.fields import EncryptedJSONField

from fabflow.accounts.models import Organization, Space
from fabflow.core.models import UUIDModel


class ConnectionKind(models.TextChoices):
    HP_SITEFLOW = "hp-siteflow", "HP PrintOS Site Flow"
    THREEYOURMIND = "3yourmind", "3YOURMIND"
    MATERIALISE = "materialise", "Materialise"
    ULTIMAKER = "ultimaker", "Ultimaker printer"


class Connection(UUIDModel):
    """A partner account of a space. The credentials are encrypted at rest (FABFLOW_FIELD_KEYS)
    and never leave the server: the API and the web page show only their last four characters."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="connections")
    name = models.SlugField(max_length=100)
    kind = models.CharField(max_length=20, choices=ConnectionKind.choices)
    base_url = models.URLField(max_length=2000)
    credentials = EncryptedJSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["space", "name"], name="connection_unique_name"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"
