"""Retries of transient failures through the real worker: an SMTP outage, permanent replies,
and updateUrl deliveries, on a schedule compressed by settings to seconds."""

from __future__ import annotations

import email
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client
from django.utils import timezone
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from fabflow.core.outbound import RetrySchedule
from fabflow.flows.engine.runner import advance
from fabflow.flows.models import FlowRun, TaskRun
from fabflow.flows.services import create_flow
from fabflow.orders.models import DeliveryAttempt, Order, OrderEvent, UpdateDelivery
from tests.factories import ApiClient, Tenant, order_body
from tests.support.servers import SmtpSink, free_port

# "6 hours" of retries in 120 s, delays from 0.2 s doubling up to 1 s.
COMPRESSED = {
    "FABFLOW_RETRY_FOR_SECONDS": "120",
    "FABFLOW_RETRY_FIRST_DELAY": "0.2",
    "FABFLOW_RETRY_FACTOR": "2",
    "FABFLOW_RETRY_MAX_DELAY": "1",
    "FABFLOW_RETRY_JITTER": "0.5",
}
MAIL_FLOW = [
    {
        "key": "s0",
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
MANUAL_FLOW = [
    {
        "key": "s0",
        "name": "Check",
        "taskDefinitions": [
            {"key": "check", "handlerKey": "manual-task", "payload": {"title": "Check"}}
        ],
    }
]


def test_the_schedule_grows_is_capped_honours_retry_after_and_ends_with_the_budget() -> None:
    schedule = RetrySchedule(first=10, factor=3, cap=100, budget=1000, jitter=0.5)
    # the delays grow by the factor up to the cap; jitter shortens them by up to half
    assert [schedule.delay(n, rng=lambda: 0.0) for n in (1, 2, 3, 4, 5)] == [10, 30, 90, 100, 100]
    assert schedule.delay(2, rng=lambda: 1.0) == 15
    # a Retry-After asking for longer wins, a shorter one does not
    assert schedule.delay(1, retry_after=40, rng=lambda: 0.0) == 40
    assert schedule.delay(3, retry_after=40, rng=lambda: 0.0) == 90
    # the last attempt falls on the end of the budget, then it gives up
    start = datetime(2026, 12, 7, tzinfo=UTC)
    near_end = start + timedelta(seconds=950)
    end = start + timedelta(seconds=1000)
    assert schedule.next_attempt(9, first_at=start, now=near_end, rng=lambda: 0.0) == end
    assert schedule.next_attempt(10, first_at=start, now=end) is None
    # a count limit, when set, stops earlier
    counted = RetrySchedule(first=1, budget=1000, max_attempts=3)
    assert counted.next_attempt(3, first_at=start, now=start) is None


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start one `fabflow worker` process on the test database, with the compressed schedule."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(**extra: str) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "fabflow.settings",
            "FABFLOW_DATA_DIR": str(tmp_path / "data"),
            "DATABASE_URL": database_url(),
            "SECRET_KEY": django_settings.SECRET_KEY,
            "BASE_URL": "http://testserver",
            "OUTBOUND_ALLOWLIST": "127.0.0.1",
            **COMPRESSED,
            **extra,
        }
        log = open(tmp_path / f"worker-{len(procs)}.log", "wb")
        cmd = [sys.executable, "-m", "fabflow.cli", "worker", "--interval", "0.1"]
        # our own interpreter and arguments
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
        procs.append(proc)
        return procs[-1]

    yield start
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def create_orders(api: ApiClient, tenant: Tenant, count: int, definition: Any) -> list[str]:
    create_flow(space=tenant.space, name="retry-flow", definition=definition)
    ids = []
    for i in range(count):
        body = order_body(f"R-{i}", flowKey="retry-flow", customerEmail=f"c{i}@example.com")
        response = api.post("/api/v1/orders", body)
        assert response.status_code == 201, response.content
        ids.append(response.json()["id"])
    return ids


def statuses(ids: list[str]) -> Counter[str]:
    return Counter(Order.objects.filter(pk__in=ids).values_list("status", flat=True))


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_an_smtp_outage_fails_no_order_and_every_mail_arrives_once_afterwards(
    api: ApiClient, tenant: Tenant, member: Any, worker: Callable[..., Any]
) -> None:
    # given a mail server that is down (nothing listens on its port) and a worker
    port = free_port()
    worker(EMAIL_URL=f"smtp://127.0.0.1:{port}")
    # when orders are sent meanwhile and the outage lasts 10 attempts of each e-mail (about
    # 8 s of the compressed schedule; the old policy gave up after 8)
    ids = create_orders(api, tenant, 12, MAIL_FLOW)
    runs = TaskRun.objects.filter(order_id__in=ids, key="mail")
    wait_until(
        lambda: statuses(ids)["failure"] > 0 or runs.filter(deliveries__gte=10).count() == 12,
        150,
        "ten attempts of every e-mail",
    )
    # then no order failed, and the order page and the API show the task retrying
    assert statuses(ids) == Counter({"in_progress": 12})
    first = Order.objects.get(pk=ids[0])
    wait_until(lambda: api_task(api, first)["retrying"], 10, "the API to show retrying")
    task = api_task(api, first)
    assert "mail server unavailable" in task["lastError"]
    assert task["nextAttemptAt"] is not None and task["deliveries"] >= 10
    client = Client()
    client.force_login(member)
    wait_until(
        lambda: 'data-retrying="mail"' in client.get(f"/orders/{first.id}").content.decode(),
        10,
        "the order page to show retrying",
    )
    page = client.get(f"/orders/{first.id}").content.decode()
    assert "Last error: mail server unavailable" in page
    # when the server comes back on the same port
    sink = SmtpSink(port).start()
    try:
        wait_until(lambda: statuses(ids)["success"] == 12, 60, "every order to succeed")
        # then every e-mail arrived exactly once, to its order's customer
        parsed = [email.message_from_bytes(m) for m in sink.messages]
        by_id = Counter(m["Message-ID"] for m in parsed)
        expected = {f"<taskrun-{r.id}@" for r in runs.all()}
        assert len(parsed) == 12 and set(by_id.values()) == {1}
        assert {i.split("@")[0] + "@" for i in by_id} == expected
        assert sorted(m["To"] for m in parsed) == sorted(f"c{i}@example.com" for i in range(12))
    finally:
        sink.stop()
    # and the timeline has one entry per failed attempt, with the reason
    run = runs.get(order_id=first.id)
    retries = OrderEvent.objects.filter(order=first, kind="task.retry_scheduled")
    assert retries.count() == run.deliveries - 1
    assert all("mail server unavailable" in e.message for e in retries)
    assert run.reason == ""


def api_task(api: ApiClient, order: Order) -> dict[str, Any]:
    [task] = api.get(f"/api/v1/orders/{order.id}").json()["tasks"]
    return task  # type: ignore[no-any-return]


class _Refuse:
    """A mail server that refuses every recipient for good."""

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        return "550 5.1.1 mailbox unavailable"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_permanent_smtp_reply_fails_the_task_at_once_with_the_reply(
    api: ApiClient, tenant: Tenant, worker: Callable[..., Any]
) -> None:
    # given a mail server answering 550 to every recipient
    port = free_port()
    controller = Controller(_Refuse(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        worker(EMAIL_URL=f"smtp://127.0.0.1:{port}")
        # when an order's e-mail is sent
        [order_id] = create_orders(api, tenant, 1, MAIL_FLOW)
        wait_until(lambda: statuses([order_id])["failure"] == 1, 60, "the failure")
    finally:
        controller.stop()
    # then the task failed on its first attempt, with the server's reply as the reason
    run = TaskRun.objects.get(order_id=order_id, key="mail")
    assert run.deliveries == 1
    assert run.reason == "recipients refused: c0@example.com: 550 5.1.1 mailbox unavailable"
    assert not OrderEvent.objects.filter(order_id=order_id, kind="task.retry_scheduled").exists()


class Script:
    """Answers to updateUrl POSTs, in order; records when each arrived and its webhook-id."""

    def __init__(self, answers: list[Response]) -> None:
        self.answers = answers
        self.seen: list[tuple[float, str]] = []

    def __call__(self, request: Request) -> Response:
        self.seen.append((time.monotonic(), request.headers["webhook-id"]))
        return self.answers[min(len(self.seen), len(self.answers)) - 1]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_update_deliveries_follow_the_schedule_and_retry_after_until_a_later_success(
    api: ApiClient, tenant: Tenant, httpserver: HTTPServer, worker: Callable[..., Any]
) -> None:
    # given a shop that is down twice (503 asking for 2 s, then 500), then answers
    script = Script(
        [
            Response("busy", status=503, headers={"Retry-After": "2"}),
            Response("oops", status=500),
            Response("ok", status=200),
        ]
    )
    httpserver.expect_request("/updates", method="POST").respond_with_handler(script)
    worker(FABFLOW_RETRY_FIRST_DELAY="0.5", FABFLOW_RETRY_MAX_DELAY="4")
    # when an order's status changes (created -> in_progress: one update)
    body = order_body(flowKey="retry-flow", updateUrl=httpserver.url_for("/updates"))
    create_flow(space=tenant.space, name="retry-flow", definition=MANUAL_FLOW)
    assert api.post("/api/v1/orders", body).status_code == 201
    wait_until(UpdateDelivery.objects.exists, 30, "the flow to start")
    delivery = UpdateDelivery.objects.get()
    wait_until(
        lambda: UpdateDelivery.objects.get(pk=delivery.pk).state != "pending",
        60,
        "the delivery to end",
    )
    # then it was delivered on the third attempt, every attempt logged with its status
    delivery.refresh_from_db()
    assert delivery.state == "delivered" and delivery.attempts == 3
    attempts = DeliveryAttempt.objects.filter(delivery=delivery).order_by("attempt")
    assert [(a.attempt, a.status_code) for a in attempts] == [(1, 503), (2, 500), (3, 200)]
    # with one webhook-id throughout, 2 s after the 503 (its Retry-After) and at least the
    # second delay of the schedule (0.5 s times 2, shortened by at most half) after the 500
    assert [webhook_id for _, webhook_id in script.seen] == [str(delivery.id)] * 3
    (t1, _), (t2, _), (t3, _) = script.seen
    assert t2 - t1 >= 2.0
    assert t3 - t2 >= 0.5


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_an_update_answered_4xx_fails_at_once(
    api: ApiClient, tenant: Tenant, httpserver: HTTPServer, worker: Callable[..., Any]
) -> None:
    # given a shop that answers 404 (a wrong updateUrl is not worth hours of retries)
    script = Script([Response("no such shop", status=404)])
    httpserver.expect_request("/gone", method="POST").respond_with_handler(script)
    worker()
    # when an order's status changes
    body = order_body(flowKey="retry-flow", updateUrl=httpserver.url_for("/gone"))
    create_flow(space=tenant.space, name="retry-flow", definition=MANUAL_FLOW)
    assert api.post("/api/v1/orders", body).status_code == 201
    wait_until(
        lambda: UpdateDelivery.objects.exclude(state="pending").exists(), 60, "the delivery to end"
    )
    # then the delivery failed after its one attempt, which is logged
    delivery = UpdateDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_error) == ("failed", 1, "HTTP 404")
    assert len(script.seen) == 1


def connector_order(api: ApiClient, tenant: Tenant, uri: str) -> Order:
    """An order whose flow calls the connector at `uri`, advanced by the engine once."""
    task = {
        "key": "print",
        "handlerKey": "consume-rest-api",
        "payload": {"uri": uri, "sendsFeedback": False},
    }
    definition = [{"key": "s0", "name": "Print", "taskDefinitions": [task]}]
    create_flow(space=tenant.space, name="connector-flow", definition=definition)
    response = api.post("/api/v1/orders", order_body(flowKey="connector-flow"))
    assert response.status_code == 201, response.content
    order = Order.objects.get(pk=response.json()["id"])
    advance(str(FlowRun.objects.get(order=order).pk))
    order.refresh_from_db()
    return order


@pytest.mark.django_db(transaction=True)
def test_a_connector_answering_429_is_retried_after_its_retry_after(
    api: ApiClient, tenant: Tenant, httpserver: HTTPServer, settings: Any
) -> None:
    # given a connector that is rate-limited for 30 s
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    answer = Response("slow down", status=429, headers={"Retry-After": "30"})
    httpserver.expect_request("/print", method="POST").respond_with_response(answer)
    # when the task calls it
    before = timezone.now()
    order = connector_order(api, tenant, httpserver.url_for("/print"))
    # then the task waits for its next attempt no sooner than asked, and says why
    run = TaskRun.objects.get(order=order, key="print")
    assert (run.state, run.deliveries, run.reason) == ("running", 1, "connector answered 429")
    assert run.wake_at is not None and run.wake_at >= before + timedelta(seconds=30)
    task = api_task(api, order)
    assert (task["retrying"], task["lastError"]) == (True, "connector answered 429")
    assert order.status == "in_progress"


@pytest.mark.django_db(transaction=True)
def test_a_connector_answering_4xx_fails_the_task_at_once_with_the_partners_message(
    api: ApiClient, tenant: Tenant, httpserver: HTTPServer, settings: Any
) -> None:
    # given a connector that refuses the order
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    answer = Response('{"detail": "unknown material PLA"}', status=422)
    httpserver.expect_request("/print", method="POST").respond_with_response(answer)
    # when the task calls it
    order = connector_order(api, tenant, httpserver.url_for("/print"))
    # then the task failed on its one call, with the partner's answer in the reason
    run = TaskRun.objects.get(order=order, key="print")
    assert (run.state, run.deliveries) == ("failed", 1)
    assert run.reason == 'connector answered 422: {"detail": "unknown material PLA"}'
    assert order.status == "failure"
    assert len(httpserver.log) == 1
