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
from django.utils.timezone import now

from fabflow.flows.models import FlowRun, TaskRun
from fabflow.flows.services import create_flow
from fabflow.orders.models import Order, OrderEvent
from tests.factories import ApiClient, make_tenant, order_body
from tests.support.servers import ConnectorStub, SmtpSink

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ENGINE_THREADS = 2
# Long enough that a live worker on a busy 2-core machine never loses its lease mid-step (which
# would be a legitimate redelivery and break the exact counts); a killed worker's runs come
# back after it.
LEASE_SECONDS = 10


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
            "FABFLOW_LEASE_SECONDS": str(LEASE_SECONDS),
            "FABFLOW_ENGINE_THREADS": str(ENGINE_THREADS),
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


def held_by(proc: subprocess.Popen[bytes], order_id: str) -> bool:
    """Whether `proc` holds an unexpired lease on the order's flow run (owner host:pid:thread)."""
    run = FlowRun.objects.get(order_id=order_id)
    pid = run.lease_owner.split(":")[1] if run.lease_owner.count(":") >= 2 else ""
    return pid == str(proc.pid) and run.lease_until is not None and run.lease_until > now()


def test_killed_worker_loses_nothing_and_only_its_calls_in_flight_are_redelivered(
    workers: Callable[..., Workers], smtp: SmtpSink
) -> None:
    # given 20 orders in a 3-task flow, and a connector that holds its first call open
    connector = ConnectorStub(hold_first=True).start()
    try:
        ids = create_orders(20, three_task_flow(connector))
        group = workers()
        first = group.start()
        wait_until(lambda: len(connector.calls) >= 1, 30, "the first connector call")
        held = connector.calls[0]
        # then the worker is mid-step: it holds the flow run's lease and recorded the delivery
        assert held_by(first, held.order_id)
        run = TaskRun.objects.get(pk=held.webhook_id)
        assert (run.state, run.deliveries) == ("running", 1)
        # when it is killed with the call in flight, and another worker starts
        first.send_signal(signal.SIGKILL)
        first.wait()
        connector.release.set()
        group.start()
        # then every flow finishes
        wait_until(lambda: statuses(ids)["success"] == 20, 90, "all flows to succeed")
    finally:
        connector.stop()
    exports = {str(r.id): str(r.order_id) for r in TaskRun.objects.filter(key="export")}
    assert len(exports) == 20
    seen = Counter(call.webhook_id for call in connector.calls)
    assert set(seen) == set(exports)
    for call in connector.calls:
        assert exports[call.webhook_id] == call.order_id
    # and the guarantee (docs/flows.md, at-least-once with stable keys): only side effects in
    # flight when the worker died are made again, once, under the same key; at most one per
    # engine thread of the killed worker. The held call had no answer, so it is redelivered.
    mail_runs = {f"<taskrun-{r.id}@" for r in TaskRun.objects.filter(key="mail")}
    sent_ids = Counter(
        line.split(b":", 1)[1].strip().decode()[:46]
        for m in smtp.messages
        for line in m.splitlines()
        if line.lower().startswith(b"message-id:")
    )
    assert set(sent_ids) == {m[:46] for m in mail_runs}
    assert seen[held.webhook_id] == 2
    assert TaskRun.objects.get(pk=held.webhook_id).deliveries == 2
    again = [n - 1 for n in [*seen.values(), *sent_ids.values()] if n > 1]
    assert max(again) == 1
    assert sum(again) <= ENGINE_THREADS
    print(
        f"\nconnector calls {sum(seen.values())}, task runs {len(seen)}, "
        f"redeliveries: connector {sum(seen.values()) - len(seen)}, "
        f"mail {sum(sent_ids.values()) - len(sent_ids)}"
    )


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
    timeout_at = TaskRun.objects.get(key="check").timeout_at
    assert timeout_at is not None
    wait_until(lambda: now() > timeout_at, 30, "the timeout to fall due")
    group.start()
    group.start()
    wait_until(lambda: TaskRun.objects.filter(key="escalate").exists(), 30, "the timeout")
    # and both workers are done with the run: no lease held, nothing due (a second firing
    # could only come from a worker still at it)
    wait_until(
        lambda: FlowRun.objects.filter(order_id=order_id, lease_owner="", due_at=None).exists(),
        30,
        "the flow run to rest",
    )
    # then the timeout fired exactly once
    events = OrderEvent.objects.filter(order_id=order_id, kind="task.timed_out")
    assert events.count() == 1
    assert TaskRun.objects.filter(key="escalate").count() == 1
    assert Order.objects.get(pk=order_id).status == "unhealthy"


def test_two_workers_never_run_one_step_concurrently(
    workers: Callable[..., Workers], connector: ConnectorStub
) -> None:
    # given two workers with two engine threads each (on SQLite too: one writer at a time,
    # the leases still decide who advances a run)
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
