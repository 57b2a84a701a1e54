"""A handler's progress between calls: saved at once, seen by the run's next call only."""

from __future__ import annotations

import pytest
from django.utils import timezone

from fabflow.flows.engine.context import build
from fabflow.flows.handlers import registry
from fabflow.flows.models import TaskRun
from tests.factories import ApiClient, Tenant
from tests.integration.test_engine import complete, flow, manual, run, run_engine, start

pytestmark = pytest.mark.django_db(transaction=True)


def _context(run_row: TaskRun):  # type: ignore[no-untyped-def]
    handler = registry.get(run_row.handler_key)
    assert handler is not None
    return build(handler, run_row, {"title": "Check"}, timezone.now())


def test_saved_progress_is_written_at_once_and_given_to_the_next_call(
    api: ApiClient, tenant: Tenant
) -> None:
    # given a started task run: its first call sees no progress
    order = start(api, tenant, flow(manual()))
    first, _ = _context(run(order, "check"))
    assert first.extra["progress"] == {}
    # when the handler saves progress in two steps
    first.services.save_progress({"basketId": 7})
    whole = first.services.save_progress({"lineIds": [1, 2]})
    # then each step merges into the run's row, committed without the engine's transaction
    assert whole == {"basketId": 7, "lineIds": [1, 2]}
    assert TaskRun.objects.get(pk=run(order, "check").pk).progress == whole
    # and the run's next call (after a poll, a retry or a crash) starts from it
    second, _ = _context(run(order, "check"))
    assert second.extra["progress"] == {"basketId": 7, "lineIds": [1, 2]}


def test_a_retried_task_starts_without_the_failed_runs_progress(
    api: ApiClient, tenant: Tenant
) -> None:
    # given a task whose first run saved progress and then failed
    order = start(api, tenant, flow(manual()))
    ctx, _ = _context(run(order, "check"))
    ctx.services.save_progress({"basketId": 7})
    assert complete(api, order, "check", "reject").status_code == 202
    run_engine(order)
    # when staff retry it
    assert api.post(f"/api/v1/tasks/{run(order, 'check').id}/retry", {}).status_code == 202
    run_engine(order)
    # then the new run (attempt 2) starts from nothing: a retry is a new run
    retried = run(order, "check")
    assert retried.attempt == 2
    assert retried.progress == {}
