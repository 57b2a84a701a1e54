"""Background jobs of the flow engine (django-tasks on the django-tasks-db backend)."""

from __future__ import annotations

from django_tasks import task


@task()
def advance_flow(flow_run_id: str) -> int:
    """Advance one flow run; a no-op when another worker holds its lease."""
    from fabflow.flows.engine.runner import advance

    return advance(flow_run_id)
