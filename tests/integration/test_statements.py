"""Every statement runs through Django's cursor wrapper, so query logging and instrumentation
(which wrap `CursorWrapper.execute`) see the engine's and intake's statements too."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db.backends.utils import CursorWrapper

from fabflow.flows.engine.runner import advance
from fabflow.flows.models import FlowRun
from fabflow.flows.services import create_flow
from tests.factories import ApiClient, Tenant, order_body

MANUAL = {"key": "check", "handlerKey": "manual-task", "payload": {"title": "Check"}}


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The SQL of every statement executed through Django's cursor wrapper, as an APM agent
    or a query logger would see it."""
    statements: list[str] = []
    execute = CursorWrapper.execute

    def record(self: CursorWrapper, sql: str, params: Any = None) -> Any:
        statements.append(sql)
        return execute(self, sql, params)

    monkeypatch.setattr(CursorWrapper, "execute", record)
    yield statements


def test_intake_and_the_engine_are_seen_by_instrumentation(
    api: ApiClient, tenant: Tenant, seen: list[str]
) -> None:
    # given a flow with a manual task
    create_flow(
        space=tenant.space,
        name="seen",
        definition=[{"key": "s", "name": "S", "taskDefinitions": [MANUAL]}],
    )
    # when an order is taken in and its flow is advanced
    created = api.post("/api/v1/orders", order_body(flowKey="seen")).json()
    advance(str(FlowRun.objects.get(order_id=created["id"]).pk))
    # then the inserts of intake and the engine's updates went through Django's cursor
    tables = ("orders_order", "orders_part", "orders_orderevent", "flows_flowrun", "flows_taskrun")
    for table in tables:
        assert any(f'INSERT INTO "{table}"' in sql for sql in seen), table
    assert any(sql.startswith('UPDATE "flows_flowrun"') for sql in seen)
    assert any(sql.startswith('UPDATE "orders_order"') for sql in seen)
