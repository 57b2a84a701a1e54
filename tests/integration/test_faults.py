"""Fault tests with real processes: killed workers, timers while no worker runs, two workers,
a mail server that is down. Workers are `fabflow worker` subprocesses on the test database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection

from fabflow.flows.models import TaskRun
from fabflow.flows.services import create_flow
from fabflow.orders.models import Order, OrderEvent
from tests.factories import ApiClient, make_tenant, order_body
from tests.support.servers import ConnectorStub, SmtpSink

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Workers:
    """Start and kill `fabflow worker` processes sharing the test database."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"worker-{len(self.procs)}.log", "wb")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fabflow.cli",
                "worker",
                "--interval",
                "0.1",
                "--sweep-interval",
                "0.5",
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def connector() -> Iterator[ConnectorStub]:
    stub = ConnectorStub().start()
    yield stub
    stub.stop()


@pytest.fixture
def workers(
    live_server: Any, smtp: SmtpSink, tmp_path: Path, settings: Any
) -> Iterator[Callable[..., Workers]]:
    made: list[Workers] = []

    def make(**extra: str) -> Workers:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "fabflow.settings",
            "FABFLOW_DATA_DIR": str(tmp_path / "data"),
            "DATABASE_URL": database_url(),
            "SECRET_KEY": django_settings.SECRET_KEY,
            "BASE_URL": live_server.url,
            "OUTBOUND_ALLOWLIST": "127.0.0.1",
            "EMAIL_URL": f"smtp://127.0.0.1:{smtp.port}",
            "FABFLOW_LEASE_SECONDS": "3",
            **extra,
        }
        made.append(Workers(env, tmp_path))
        return made[-1]

    settings.BASE_URL = live_server.url
    yield make
    for group in made:
        group.stop_all()


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def three_task_flow(connector: ConnectorStub) -> list[dict[str, Any]]:
    return [
        {
            "key": "make",
            "name": "Make",
            "taskDefinitions": [
                {
                    "key": "mail",
                    "handlerKey": "send-email",
                    "payload": {
                        "recipients": ["{customerEmail}"],
                        "subject": "Order {order.name}",
                        "body": "Thanks",
                    },
                    "next": [{"taskDefinitionKey": "export", "trigger": "success"}],
                },
                {
                    "key": "export",
                    "handlerKey": "consume-rest-api",
                    "payload": {"uri": connector.url, "sendsFeedback": True},
                    "next": [{"taskDefinitionKey": "pause", "trigger": "success"}],
                },
                {"key": "pause", "handlerKey": "wait", "payload": {"durationMs": 0}},
            ],
        }
    ]


def create_orders(count: int, definition: list[dict[str, Any]]) -> list[str]:
    tenant = make_tenant("Faults", "fault-space")
    create_flow(space=tenant.space, name="fault-flow", definition=definition)
    api = ApiClient(tenant.secret)
    ids = []
    for i in range(count):
        response = api.post("/api/v1/orders", order_body(f"F-{i}", flowKey="fault-flow"))
        assert response.status_code == 201, response.content
        ids.append(response.json()["id"])
    return ids


def statuses(ids: list[str]) -> Counter[str]:
    return Counter(Order.objects.filter(pk__in=ids).values_list("status", flat=True))


def test_killed_worker_loses_nothing_and_each_run_keeps_one_webhook_id(
    workers: Callable[..., Workers], connector: ConnectorStub, smtp: SmtpSink
) -> None:
    # given 20 orders in a 3-task flow and a worker that is killed mid-flow
    ids = create_orders(20, three_task_flow(connector))
    group = workers()
    first = group.start()
    wait_until(lambda: len(connector.calls) >= 3, 30, "the first connector calls")
    first.send_signal(signal.SIGKILL)
    first.wait()
    # when another worker starts
    group.start()
    # then every flow finishes
    wait_until(lambda: statuses(ids)["success"] == 20, 90, "all flows to succeed")
    exports = {str(r.id): str(r.order_id) for r in TaskRun.objects.filter(key="export")}
    assert len(exports) == 20
    seen = Counter(call.webhook_id for call in connector.calls)
    assert set(seen) == set(exports)
    for call in connector.calls:
        assert exports[call.webhook_id] == call.order_id
    redeliveries = sum(seen.values()) - len(seen)
    print(
        f"\nconnector calls {sum(seen.values())}, task runs {len(seen)}, "
        f"raw redeliveries {redeliveries}"
    )
    mail_runs = {f"<taskrun-{r.id}@" for r in TaskRun.objects.filter(key="mail")}
    message_ids = {
        line.split(b":", 1)[1].strip().decode()[:46]
        for m in smtp.messages
        for line in m.splitlines()
        if line.lower().startswith(b"message-id:")
    }
    assert {m for m in message_ids} >= {m[:46] for m in mail_runs}


def test_a_timeout_that_fell_due_while_no_worker_ran_fires_once(
    workers: Callable[..., Workers],
) -> None:
    definition = [
        {
            "key": "s",
            "name": "Check",
            "taskDefinitions": [
                {
                    "key": "check",
                    "handlerKey": "manual-task",
                    "payload": {"title": "Check"},
                    "timeoutDuration": 1500,
                    "next": [{"taskDefinitionKey": "escalate", "trigger": "timeout"}],
                },
                {"key": "escalate", "handlerKey": "manual-task", "payload": {"title": "Escalate"}},
            ],
        }
    ]
    [order_id] = create_orders(1, definition)
    group = workers()
    worker = group.start()
    wait_until(
        lambda: TaskRun.objects.filter(key="check", state="waiting").exists(), 30, "the manual task"
    )
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    # when the timeout falls due with no worker running, then workers come back
    time.sleep(2.0)
    group.start()
    group.start()
    wait_until(lambda: TaskRun.objects.filter(key="escalate").exists(), 30, "the timeout")
    time.sleep(2.0)
    # then the timeout fired exactly once
    events = OrderEvent.objects.filter(order_id=order_id, kind="task.timed_out")
    assert events.count() == 1
    assert TaskRun.objects.filter(key="escalate").count() == 1
    assert Order.objects.get(pk=order_id).status == "unhealthy"


def test_two_workers_never_run_one_step_concurrently(
    workers: Callable[..., Workers], connector: ConnectorStub
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("several workers share one queue on PostgreSQL only (SQLite: one worker)")
    ids = create_orders(30, three_task_flow(connector))
    group = workers()
    group.start()
    group.start()
    wait_until(lambda: statuses(ids)["success"] == 30, 90, "all flows to succeed")
    assert connector.overlaps == 0
    seen = Counter(call.webhook_id for call in connector.calls)
    assert max(seen.values()) == 1
    started = Counter(
        OrderEvent.objects.filter(kind="task.started").values_list("data__taskRunId", flat=True)
    )
    assert max(started.values()) == 1


def test_mail_server_down_is_retried_then_fails_with_the_reason(
    workers: Callable[..., Workers],
) -> None:
    definition = [
        {
            "key": "s",
            "name": "Mail",
            "taskDefinitions": [
                {
                    "key": "mail",
                    "handlerKey": "send-email",
                    "payload": {"recipient": "{customerEmail}", "subject": "Hi", "body": "Hello"},
                }
            ],
        }
    ]
    [order_id] = create_orders(1, definition)
    group = workers(EMAIL_URL="smtp://127.0.0.1:9", FABFLOW_TASK_MAX_DELIVERIES="3")
    group.start()
    wait_until(lambda: Order.objects.get(pk=order_id).status == "failure", 60, "the failure")
    run = TaskRun.objects.get(key="mail")
    assert run.deliveries == 3
    assert "mail server unavailable" in run.reason
    assert "gave up after 3 attempts" in run.reason
    retries = OrderEvent.objects.filter(order_id=order_id, kind="task.retry_scheduled")
    assert retries.count() == 2
