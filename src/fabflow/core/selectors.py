"""Reads of shared machinery (the job queue), for the health endpoint."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django_tasks_db.models import DBTaskResult


def ready_jobs() -> QuerySet[Any]:
    """The queue's jobs that are ready to run."""
    return DBTaskResult.objects.ready()
