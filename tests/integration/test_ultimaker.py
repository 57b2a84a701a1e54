"""`ultimaker-print` through the real engine against a fake Ultimaker printer on 127.0.0.1."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from django.utils import timezone
from requests.auth import HTTPDigestAuth

from fabflow.connectors.models import Connection
from fabflow.connectors.ultimaker import Challenge
from fabflow.flows.models import TaskRun
from fabflow.orders.models import Order, OrderEvent
from tests.factories import ApiClient, Tenant
from tests.integration.test_engine import flow, run, run_engine, start
from tests.support.servers import free_port
from tests.support.ultimaker import FakeUltimaker

pytestmark = pytest.mark.django_db(transaction=True)

GCODE = b";FLAVOR:Griffin\n;TIME:2400\nG28\nG1 X10 Y10 Z0.2 F3000\nG1 X20 E1.5\nM104 S0\n"


@pytest.fixture
def printer(settings: Any) -> Iterator[FakeUltimaker]:
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    fake = FakeUltimaker()
    yield fake
    fake.stop()


def connect(tenant: Tenant, url: str, credentials: dict[str, str]) -> Connection:
    return Connection.objects.create(
        organization=tenant.org,
        space=tenant.space,
        name="um-s5",
        kind="ultimaker",
        base_url=url,
        credentials=credentials,
    )


def print_order(api: ApiClient, tenant: Tenant, **payload: Any) -> Order:
    asset = {"name": "ring.gcode", "contentBase64": base64.b64encode(GCODE).decode()}
    task = {
        "key": "print",
        "handlerKey": "ultimaker-print",
        "payload": {"connection": "um-s5", "pollSeconds": 5, **payload},
    }
    return start(api, tenant, flow(task), products=[{"name": "Ring", "assets": [asset]}])


def tick(order: Order, times: int = 1) -> TaskRun:
    """Let the task's timer (a poll or a retry) fall due, `times` times."""
    for _ in range(times):
        TaskRun.objects.filter(order=order, key="print").update(wake_at=timezone.now())
        run_engine(order)
    return run(order, "print")


def until_done(order: Order, limit: int = 12) -> TaskRun:
    for _ in range(limit):
        task = tick(order)
        if task.state not in ("waiting", "running", "pending"):
            return task
    raise AssertionError(f"the print task is still {task.state}")


def timeline(order: Order) -> list[str]:
    return list(OrderEvent.objects.filter(order=order).values_list("message", flat=True))


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
def test_prints_the_gcode_and_follows_the_job_to_the_end(
    api: ApiClient, tenant: Tenant, printer: FakeUltimaker, algorithm: str
) -> None:
    printer.algorithm = algorithm
    connect(tenant, printer.start().url, printer.pair())
    order = print_order(api, tenant)
    task = run(order, "print")
    # the G-code went to the printer once, under a name derived from the order and the run
    [upload] = printer.uploads
    assert upload.jobname == f"WEB-1001 {str(task.id)[:8]}"
    assert (upload.filename, upload.content) == ("ring.gcode", GCODE)
    assert ("POST", "/print_job", True) in printer.requests
    assert task.state == "waiting"
    assert f"Task print: sent ring.gcode to printer um-s5 as {upload.jobname}" in timeline(order)
    # when the printer goes pre_print -> printing -> post_print -> wait_cleanup (Finished)
    task = until_done(order)
    assert order.status == "success"
    assert task.state == "succeeded"
    assert task.result["jobName"] == upload.jobname
    assert task.result["result"] == "Finished"
    assert task.result["printTimeS"] == 2400
    assert task.result["printer"] == "um-s5"
    assert task.result["jobUuid"]
    assert len(printer.uploads) == 1


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"busy_polls": 2}, "printer busy (printing: someone else's job)"),
        ({"statuses": ["booting", "maintenance"]}, "printer busy (booting)"),
    ],
)
def test_a_busy_printer_makes_the_task_wait_then_print(
    api: ApiClient, tenant: Tenant, printer: FakeUltimaker, knobs: dict[str, Any], message: str
) -> None:
    for name, value in knobs.items():
        setattr(printer, name, value)
    connect(tenant, printer.start().url, printer.pair())
    order = print_order(api, tenant)
    # then nothing was sent: the task waits until its next poll
    task = run(order, "print")
    assert task.state == "waiting"
    assert task.wake_at is not None and task.wake_at > timezone.now()
    assert printer.uploads == []
    assert f"Task print: {message}" in timeline(order)
    # when the printer is free again, the job goes out once and prints
    task = until_done(order)
    assert task.state == "succeeded"
    assert len(printer.uploads) == 1


def test_wrong_credentials_fail_with_a_clear_reason(
    api: ApiClient, tenant: Tenant, printer: FakeUltimaker
) -> None:
    pair = printer.pair()
    connect(tenant, printer.start().url, {"id": pair["id"], "key": "not-the-key"})
    order = print_order(api, tenant)
    task = run(order, "print")
    assert order.status == "failure"
    assert task.state == "failed"
    assert task.reason.startswith("printer refused the credentials (digest auth): HTTP 401")
    assert "Authorization required." in task.reason
    assert printer.uploads == []
    assert printer.refused == 1


def test_a_job_aborted_on_the_printer_fails_the_task(
    api: ApiClient, tenant: Tenant, printer: FakeUltimaker
) -> None:
    printer.result = "Aborted"
    connect(tenant, printer.start().url, printer.pair())
    order = print_order(api, tenant)
    task = until_done(order)
    assert order.status == "failure"
    assert task.reason.startswith("print job aborted by the printer:")
    assert task.reason.endswith("ended Aborted")


@pytest.mark.parametrize("cleared", [False, True])
def test_a_lost_upload_reply_does_not_print_twice(
    api: ApiClient, tenant: Tenant, printer: FakeUltimaker, cleared: bool
) -> None:
    # given a printer that takes the job but whose reply never arrives (the worker died, the
    # network broke): the task only knows that the call failed
    printer.drop_upload_reply = True
    connect(tenant, printer.start().url, printer.pair())
    order = print_order(api, tenant)
    task = run(order, "print")
    assert len(printer.uploads) == 1
    assert task.state == "running"
    assert task.reason.startswith("printer um-s5 unreachable")
    if cleared:
        # and by the next attempt the job printed and the plate was cleared (in the history)
        printer.clear_plate()
    # then the next attempts find the job by its name and follow it: no second upload
    task = until_done(order)
    assert task.state == "succeeded"
    assert task.result["jobName"] == printer.uploads[0].jobname
    assert len(printer.uploads) == 1


def test_a_printer_that_is_down_is_retried(
    api: ApiClient, tenant: Tenant, printer: FakeUltimaker
) -> None:
    # given a printer that is switched off (nothing listens on its port)
    printer.port = free_port()
    connect(tenant, printer.url, printer.pair())
    order = print_order(api, tenant)
    task = run(order, "print")
    assert task.state == "running"
    assert task.wake_at is not None
    assert task.reason.startswith("printer um-s5 unreachable: cannot connect to 127.0.0.1")
    assert OrderEvent.objects.filter(order=order, kind="task.retry_scheduled").exists()
    # when it is back, the next attempt prints
    printer.start()
    task = until_done(order)
    assert task.state == "succeeded"
    assert len(printer.uploads) == 1


def test_a_printer_answering_5xx_is_retried(
    api: ApiClient, tenant: Tenant, printer: FakeUltimaker
) -> None:
    printer.errors = [503]
    connect(tenant, printer.start().url, printer.pair())
    order = print_order(api, tenant)
    task = run(order, "print")
    assert task.state == "running"
    assert task.reason == (
        "printer answered GET /print_job with HTTP 503: The printer is updating its firmware"
    )
    task = until_done(order)
    assert task.state == "succeeded"
    assert len(printer.uploads) == 1


def test_no_matching_asset_fails_naming_the_filter(
    api: ApiClient, tenant: Tenant, printer: FakeUltimaker
) -> None:
    connect(tenant, printer.start().url, printer.pair())
    order = print_order(api, tenant, filter=r"\.ufp$")
    assert run(order, "print").reason == r"no ready asset matches the filter '\\.ufp$'"
    assert printer.requests == []


def test_an_unknown_connection_fails(api: ApiClient, tenant: Tenant) -> None:
    order = print_order(api, tenant, connection="nope")
    assert run(order, "print").reason == "no connection 'nope' in space acme-rings"


# The fake against a maintained client, and the connection check ---------------------------------


def test_the_fake_printer_speaks_digest_like_a_standard_client(printer: FakeUltimaker) -> None:
    pair = printer.start().pair()
    url = f"{printer.url}/api/v1/auth/verify"
    assert requests.get(url, auth=HTTPDigestAuth(pair["id"], pair["key"]), timeout=5).ok
    refused = requests.get(url, auth=HTTPDigestAuth(pair["id"], "x"), timeout=5)
    assert refused.status_code == 401
    challenge = Challenge.parse(refused.headers["WWW-Authenticate"])
    assert challenge is not None
    assert (challenge.realm, challenge.qop) == ("Jedi-API-Digest", "auth")


def answer_of_test(tenant: Tenant, base_url: str, credentials: dict[str, str]) -> dict[str, Any]:
    """`POST /connections/{id}/test` of a new ultimaker connection, as the space's key."""
    api = ApiClient(tenant.secret)
    made = api.post(
        "/api/v1/connections",
        {"name": "um-s5", "kind": "ultimaker", "baseUrl": base_url, "credentials": credentials},
    )
    assert made.status_code == 201, made.content
    answer = api.post(f"/api/v1/connections/{made.json()['id']}/test", {})
    Connection.objects.all().delete()
    assert answer.status_code == 200, answer.content
    result: dict[str, Any] = answer.json()
    return result


def test_the_connection_test_says_whether_the_printer_accepts_the_pair(
    tenant: Tenant, printer: FakeUltimaker
) -> None:
    pair = printer.start().pair()
    assert answer_of_test(tenant, printer.url, pair) == {
        "ok": True,
        "status": 200,
        "message": "the printer accepts the id/key pair",
    }
    assert ("GET", "/auth/verify", True) in printer.requests
    refused = answer_of_test(tenant, printer.url, {"id": pair["id"], "key": "not-the-key"})
    assert (refused["ok"], refused["status"]) == (False, 401)
    assert refused["message"].startswith("printer refused the credentials (digest auth)")
    down = answer_of_test(tenant, f"http://127.0.0.1:{free_port()}", pair)
    assert (down["ok"], down["status"]) == (False, None)
    assert down["message"].startswith("printer um-s5 unreachable: cannot connect")


def test_the_documented_flow_example_is_valid() -> None:
    from pathlib import Path

    from fabflow.flows.definition import validate_definition
    from fabflow.flows.handlers import registry

    text = (Path(__file__).parents[2] / "docs" / "connectors" / "ultimaker.md").read_text()
    start_at = text.index("```json", text.index("## Flow example")) + len("```json")
    example = json.loads(text[start_at : text.index("```", start_at)])
    assert validate_definition(example, registry.payload_models()) == []
    assert example[0]["taskDefinitions"][1]["handlerKey"] == "ultimaker-print"
