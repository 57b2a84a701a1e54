"""Abstract base models shared by every app."""

import uuid

from django.db import models


class UUIDModel(models.Model):
    """A model with a random UUID primary key, safe to show in URLs and the API."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        abstract = True
