"""siteflow-submit and siteflow-cancel through the real engine against a fake Site Flow that
checks signatures and documents the way Site Flow does."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from fabflow.connectors.models import Connection
from fabflow.connectors.siteflow.handlers import POSTBACK_SALT, postback_token
from fabflow.flows.engine.context import run_id_from
from fabflow.flows.engine.runner import advance
from fabflow.flows.models import FlowRun, TaskRun
from fabflow.flows.services import create_flow
from fabflow.orders.models import Order, OrderEvent
from tests.factories import ApiClient, Tenant, order_body
from tests.support.servers import free_port
from tests.support.siteflow import PREFIX, FakeSiteflow

pytestmark = pytest.mark.django_db(transaction=True)

DATA = Path(__file__).resolve().parent.parent / "data" / "siteflow"
STL = b"solid ring\nendsolid ring\n"
ADDRESS = {
    "addressType": "shipping",
    "purpose": "delivery",
    "data": {
        "name": "Ann Smith",
        "line1": "12 Rue Haute",
        "city": "Brussels",
        "zip": "1000",
        "country": "BE",
    },
}
PAYLOAD = {
    "connection": "siteflow-prod",
    "destination": "acme-print",
    "filter": "\\.stl$",
    "carrier": {"code": "ups", "service": "standard"},
}


@pytest.fixture
def fake(settings: Any) -> Iterator[FakeSiteflow]:
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    settings.BASE_URL = "http://testserver"
    server = FakeSiteflow().start()
    yield server
    server.stop()


@pytest.fixture
def connection(tenant: Tenant, fake: FakeSiteflow) -> Connection:
    return Connection.objects.create(
        organization=tenant.org,
        space=tenant.space,
        name="siteflow-prod",
        kind="hp-siteflow",
        base_url=fake.base_url,
        credentials={"key": fake.key, "secret": fake.secret},
    )


def submit_task(**payload: Any) -> dict[str, Any]:
    return {"key": "siteflow", "handlerKey": "siteflow-submit", "payload": {**PAYLOAD, **payload}}


def order_with_files(api: ApiClient, tenant: Tenant, *stages: list[dict[str, Any]]) -> Order:
    definition = [
        {"key": f"s{i}", "name": f"Stage {i}", "taskDefinitions": tasks}
        for i, tasks in enumerate(stages)
    ]
    create_flow(space=tenant.space, name="siteflow-flow", definition=definition)
    body = order_body(flowKey="siteflow-flow", addresses=[ADDRESS])
    for product in body["products"]:
        name = product["name"].lower().replace(" ", "-")
        content = base64.b64encode(STL).decode()
        product["assets"] = [{"name": f"{name}.stl", "contentBase64": content}]
    response = api.post("/api/v1/orders", body)
    assert response.status_code == 201, response.content
    order = Order.objects.get(pk=response.json()["id"])
    run_engine(order)
    return order


def run_engine(order: Order) -> None:
    advance(str(FlowRun.objects.get(order=order).pk))
    order.refresh_from_db()


def run_until(order: Order, done: Any, seconds: float = 20) -> None:
    """Advance the order's flow as its timers fall due, until `done()` or the time is up."""
    give_up = time.monotonic() + seconds
    while not done() and time.monotonic() < give_up:
        FlowRun.objects.filter(order=order).update(due_at=timezone.now())
        run_engine(order)
        time.sleep(0.1)


def task(order: Order, key: str = "siteflow") -> TaskRun:
    return TaskRun.objects.filter(order=order, key=key).order_by("-attempt").get()


def postback(fake: FakeSiteflow, status: str, **extra: Any) -> Any:
    url, body = fake.postback("WEB-1001", status, **extra)
    return Client().post(urlsplit(url).path, json.dumps(body), content_type="application/json")


def timeline(order: Order, kind: str) -> list[str]:
    rows = OrderEvent.objects.filter(order=order, kind=kind).order_by("created_at", "id")
    return list(rows.values_list("message", flat=True))


def test_the_order_is_validated_then_submitted_signed_and_waits_with_the_partner_id(
    api: ApiClient, tenant: Tenant, fake: FakeSiteflow, connection: Connection
) -> None:
    # when the flow reaches siteflow-submit
    order = order_with_files(api, tenant, [submit_task()])
    # then Site Flow got a signed validation, then the same document as an order
    assert fake.calls() == [
        ("POST", f"{PREFIX}/api/order/validate"),
        ("POST", f"{PREFIX}/api/order"),
    ]
    validate, submit = fake.requests
    assert validate.body == submit.body
    assert submit.headers["x-hp-hmac-algorithm"] == "SHA256"
    assert submit.headers["x-hp-hmac-authentication"].startswith(f"{fake.key}:")
    document = submit.body
    run = task(order)
    products = sorted(order.products.all(), key=lambda p: p.name)
    assert document["destination"] == {"name": "acme-print"}
    data = document["orderData"]
    assert data["sourceOrderId"] == "WEB-1001"
    base, token = data["postbackAddress"].rsplit("/", 1)
    assert base == "http://testserver/api/v1/connectors/siteflow/postback"
    assert run_id_from(token, POSTBACK_SALT) == str(run.id)
    assert [(i["sourceItemId"], i["sku"], i["quantity"]) for i in data["items"]] == [
        (str(p.id), p.name, 2) for p in products
    ]
    assert [c["code"] for i in data["items"] for c in i["components"]] == ["Content", "Content"]
    assert all(c["fetch"] is True for i in data["items"] for c in i["components"])
    assert data["shipments"] == [
        {
            "shipTo": {
                "name": "Ann Smith",
                "address1": "12 Rue Haute",
                "town": "Brussels",
                "postcode": "1000",
                "isoCountry": "BE",
                "email": "ann@example.com",
            },
            "carrier": {"code": "ups", "service": "standard"},
        }
    ]
    # and the task waits, holding Site Flow's order id
    assert run.state == "waiting"
    assert run.result == {
        "siteflowOrderId": fake.order("WEB-1001")["_id"],
        "sourceOrderId": "WEB-1001",
        "sourceAccount": "fabflow-shop",
        "destination": "acme-print",
    }
    assert timeline(order, "task.waiting") == [
        f"Task siteflow: submitted to Site Flow as {run.result['siteflowOrderId']}; "
        "waiting for postbacks"
    ]


def test_postbacks_are_recorded_and_the_success_status_ends_the_task(
    api: ApiClient, tenant: Tenant, fake: FakeSiteflow, connection: Connection
) -> None:
    order = order_with_files(api, tenant, [submit_task()])
    partner_id = task(order).result["siteflowOrderId"]
    # when Site Flow reports progress, then shipping
    printready = postback(fake, "printready")
    assert (printready.status_code, printready.json()) == (
        202,
        {"accepted": True, "recorded": True},
    )
    run_engine(order)
    assert task(order).state == "waiting"
    assert postback(fake, "Shipped").status_code == 202
    run_engine(order)
    # then the task succeeded with the partner's id and status, and the order is done
    run = task(order)
    assert run.state == "succeeded"
    assert run.result["siteflowOrderId"] == partner_id
    assert run.result["status"] == "shipped"
    assert order.status == "success"
    assert timeline(order, "connector.feedback") == [
        "Partner update for siteflow: printready",
        "Partner update for siteflow: shipped",
    ]
    # and the address is used up
    assert postback(fake, "shipped").status_code == 404


def test_a_postback_carrying_the_order_document_reads_its_status(
    api: ApiClient, tenant: Tenant, fake: FakeSiteflow, connection: Connection
) -> None:
    order = order_with_files(api, tenant, [submit_task()])
    url, _body = fake.postback("WEB-1001", "shipped")
    document = {"_id": task(order).result["siteflowOrderId"], **fake.order("WEB-1001")}
    document["orderData"] = {**document["orderData"], "status": "shipped"}
    path = urlsplit(url).path
    response = Client().post(path, json.dumps(document), content_type="application/json")
    assert response.status_code == 202
    run_engine(order)
    assert task(order).state == "succeeded"


def test_duplicate_postbacks_record_once_and_end_the_task_once(
    api: ApiClient, tenant: Tenant, fake: FakeSiteflow, connection: Connection
) -> None:
    order = order_with_files(api, tenant, [submit_task()])
    # when Site Flow repeats each postback before the engine ran
    answers = [postback(fake, s).json()["recorded"] for s in ("printready", "printready")]
    answers += [postback(fake, s).json()["recorded"] for s in ("shipped", "shipped")]
    run_engine(order)
    # then each is recorded once and the task ended once
    assert answers == [True, False, True, False]
    assert len(timeline(order, "connector.feedback")) == 2
    assert len(timeline(order, "task.succeeded")) == 1
    assert task(order).state == "succeeded"
    # and a failure status after the end changes nothing
    assert postback(fake, "cancelled").status_code == 404
    assert task(order).state == "succeeded"


def test_a_failure_status_fails_the_task_with_it(
    api: ApiClient, tenant: Tenant, fake: FakeSiteflow, connection: Connection
) -> None:
    order = order_with_files(api, tenant, [submit_task()])
    assert postback(fake, "error", message="file could not be fetched").status_code == 202
    run_engine(order)
    run = task(order)
    assert (run.state, run.reason) == (
        "failed",
        "Site Flow reported the order error: file could not be fetched",
    )
    assert order.status == "failure"


def test_a_wrong_or_foreign_token_is_404(
    api: ApiClient, tenant: Tenant, fake: FakeSiteflow, connection: Connection
) -> None:
    order = order_with_files(api, tenant, [submit_task()])
    client = Client()
    url = "/api/v1/connectors/siteflow/postback/"
    body = json.dumps({"status": "shipped"})
    # a forged token, and a genuine token of a task run that is not a siteflow-submit
    forged = client.post(url + "not-a-token", body, content_type="application/json")
    other = TaskRun.objects.create(
        flow_run=task(order).flow_run, order=order, key="x", handler_key="manual-task", stage=0
    )
    foreign = client.post(
        url + postback_token(str(other.id)), body, content_type="application/json"
    )
    assert (forged.status_code, foreign.status_code) == (404, 404)
    assert forged["Content-Type"] == "application/problem+json"
    assert task(order).state == "waiting"


def test_a_postback_without_status_is_422_naming_the_field(
    api: ApiClient, tenant: Tenant, fake: FakeSiteflow, connection: Connection
) -> None:
    order_with_files(api, tenant, [submit_task()])
    url, _body = fake.postback("WEB-1001", "shipped")
    response = Client().post(urlsplit(url).path, "{}", content_type="application/json")
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "status"]


def test_a_refused_document_fails_the_task_with_sitflows_messages(
    api: ApiClient, tenant: Tenant, fake: FakeSiteflow, connection: Connection
) -> None:
    fake.refuse = True
    order = order_with_files(api, tenant, [submit_task()])
    run = task(order)
    assert run.state == "failed"
    assert run.reason == (
        "Site Flow answered 400 to the validation: Order is invalid; "
        "orderData.items[0].sku: SKU 'Ring 0' does not exist; "
        "orderData.shipments[0].carrier: carrier 'drone' is not set up"
    )
    # refused at validation: no order was submitted, and it was not retried
    assert fake.calls() == [("POST", f"{PREFIX}/api/order/validate")]
    assert fake.orders == {}


def test_without_validate_first_the_submission_is_refused_instead(
    api: ApiClient, tenant: Tenant, fake: FakeSiteflow, connection: Connection
) -> None:
    fake.refuse = True
    order = order_with_files(api, tenant, [submit_task(validateFirst=False)])
    assert fake.calls() == [("POST", f"{PREFIX}/api/order")]
    assert task(order).reason.startswith("Site Flow answered 400 to the order: Order is invalid")


def test_bad_credentials_fail_at_once_with_the_401(
    api: ApiClient, tenant: Tenant, fake: FakeSiteflow, connection: Connection
) -> None:
    connection.credentials = {"key": fake.key, "secret": "not-the-secret"}
    connection.save()
    order = order_with_files(api, tenant, [submit_task()])
    run = task(order)
    assert (run.state, run.deliveries) == ("failed", 1)
    assert run.reason == "Site Flow answered 401 to the validation: Invalid HMAC signature"


def test_sha1_is_selectable_and_verified(
    api: ApiClient, tenant: Tenant, fake: FakeSiteflow, connection: Connection
) -> None:
    order = order_with_files(api, tenant, [submit_task(hmacAlgorithm="SHA1")])
    assert task(order).state == "waiting"
    assert {r.headers["x-hp-hmac-algorithm"] for r in fake.requests} == {"SHA1"}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"connection": "nope"}, "no connection 'nope' in space acme-rings"),
        ({"filter": "\\.pdf$"}, "product Ring 0 has no asset matching '\\\\.pdf$'"),
    ],
)
def test_an_unknown_connection_or_a_product_without_file_fails_naming_it(
    api: ApiClient,
    tenant: Tenant,
    fake: FakeSiteflow,
    connection: Connection,
    change: dict[str, str],
    reason: str,
) -> None:
    order = order_with_files(api, tenant, [submit_task(**change)])
    assert (task(order).state, task(order).reason) == ("failed", reason)
    assert fake.requests == []


@pytest.fixture
def quick_retries(settings: Any) -> None:
    settings.FABFLOW_RETRY_FIRST_DELAY = 0.2
    settings.FABFLOW_RETRY_MAX_DELAY = 0.5
    settings.FABFLOW_RETRY_JITTER = 0.0


def test_a_partner_that_is_down_is_retried_on_the_timeline_until_it_answers(
    api: ApiClient, tenant: Tenant, fake: FakeSiteflow, connection: Connection, quick_retries: None
) -> None:
    # given Site Flow answering 503 twice
    fake.down = 2
    order = order_with_files(api, tenant, [submit_task()])
    assert (task(order).state, task(order).reason) == (
        "running",
        "Site Flow answered 503 to the validation: Service Unavailable",
    )
    # when the retries fall due
    run_until(order, lambda: task(order).state == "waiting")
    # then the retries are on the timeline and exactly one order was submitted
    retries = timeline(order, "task.retry_scheduled")
    assert len(retries) == 2
    assert retries[0].startswith(
        "Task siteflow: attempt 1 failed: Site Flow answered 503 to the validation: "
        "Service Unavailable; next attempt at "
    )
    assert task(order).state == "waiting"
    assert fake.calls()[-3:] == [
        ("GET", f"{PREFIX}/api/order"),
        ("POST", f"{PREFIX}/api/order/validate"),
        ("POST", f"{PREFIX}/api/order"),
    ]
    assert len(fake.orders) == 1


def test_a_closed_port_is_retried_with_the_reason_on_the_timeline(
    api: ApiClient, tenant: Tenant, fake: FakeSiteflow, connection: Connection, quick_retries: None
) -> None:
    # given a connection to a port where nothing listens
    connection.base_url = f"http://127.0.0.1:{free_port()}/siteflow"
    connection.save()
    order = order_with_files(api, tenant, [submit_task()])
    # then the task waits for another try, saying why
    run = task(order)
    assert (run.state, run.deliveries) == ("running", 1)
    assert run.reason.startswith("Site Flow unreachable: ")
    [retry] = timeline(order, "task.retry_scheduled")
    assert retry.startswith(f"Task siteflow: attempt 1 failed: {run.reason}; next attempt at ")
    assert order.status == "in_progress"


def test_429_waits_for_its_retry_after(
    api: ApiClient, tenant: Tenant, fake: FakeSiteflow, connection: Connection, quick_retries: None
) -> None:
    fake.limited = 1
    before = timezone.now()
    order = order_with_files(api, tenant, [submit_task()])
    run = task(order)
    assert run.reason == "Site Flow answered 429 to the validation: Too many requests"
    assert run.wake_at is not None and run.wake_at >= before + timedelta(seconds=1)
    run_until(order, lambda: task(order).state == "waiting")
    assert task(order).state == "waiting"


def test_an_answer_lost_after_the_order_was_made_does_not_make_a_second_one(
    api: ApiClient,
    tenant: Tenant,
    fake: FakeSiteflow,
    connection: Connection,
    quick_retries: None,
    settings: Any,
) -> None:
    # given Site Flow that creates the order but answers after Fabflow stopped waiting
    settings.FABFLOW_CONNECTOR_TIMEOUT = 0.5
    fake.stall_submit_s = 1.5
    order = order_with_files(api, tenant, [submit_task()])
    assert task(order).state == "running"
    assert task(order).reason.startswith("Site Flow unreachable: timed out reading")
    # when the retry runs
    fake.stall_submit_s = 0
    run_until(order, lambda: task(order).state == "waiting")
    # then it found the order by its sourceOrderId and adopted it
    assert fake.calls()[-1] == ("GET", f"{PREFIX}/api/order")
    assert fake.requests[-1].query == {"sourceOrderId": ["WEB-1001"]}
    assert len(fake.orders) == 1
    assert task(order).result["siteflowOrderId"] == fake.order("WEB-1001")["_id"]
    assert timeline(order, "task.waiting")[-1].startswith(
        "Task siteflow: found already submitted to Site Flow as "
    )


def test_the_component_link_downloads_the_file_until_it_expires(
    api: ApiClient, tenant: Tenant, fake: FakeSiteflow, connection: Connection, settings: Any
) -> None:
    order_with_files(api, tenant, [submit_task()])
    path = fake.requests[-1].body["orderData"]["items"][0]["components"][0]["path"]
    link = urlsplit(path)
    response = Client().get(f"{link.path}?{link.query}")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == STL
    # once older than FABFLOW_SIGNED_URL_MAX_AGE it no longer works
    settings.FABFLOW_SIGNED_URL_MAX_AGE = 0
    time.sleep(1.05)
    assert Client().get(f"{link.path}?{link.query}").status_code == 401


def test_siteflow_cancel_cancels_the_submitted_order_by_its_source_account(
    api: ApiClient, tenant: Tenant, fake: FakeSiteflow, connection: Connection
) -> None:
    # given an order submitted in the first stage and cancelled in the second
    cancel = {
        "key": "cancel",
        "handlerKey": "siteflow-cancel",
        "payload": {"connection": "siteflow-prod"},
    }
    order = order_with_files(api, tenant, [submit_task(successStatuses=["printready"])], [cancel])
    postback(fake, "printready")
    run_engine(order)
    # then Site Flow got a signed cancel for the account it named, and the flow went on
    assert fake.calls()[-1] == ("PUT", f"{PREFIX}/api/order/fabflow-shop/WEB-1001/cancel")
    assert fake.order("WEB-1001")["orderData"]["status"] == "cancelled"
    assert task(order, "cancel").state == "succeeded"
    assert order.status == "success"


def test_cancelling_an_order_site_flow_does_not_know_fails_with_its_reason(
    api: ApiClient, tenant: Tenant, fake: FakeSiteflow, connection: Connection
) -> None:
    payload = {"connection": "siteflow-prod", "sourceAccount": "fabflow-shop"}
    cancel = {"key": "cancel", "handlerKey": "siteflow-cancel", "payload": payload}
    order = order_with_files(api, tenant, [cancel])
    assert fake.calls() == [("PUT", f"{PREFIX}/api/order/fabflow-shop/WEB-1001/cancel")]
    assert task(order, "cancel").reason == (
        "Site Flow answered 404 to the cancellation: Order not found"
    )


def connection_test(api: ApiClient, base_url: str, credentials: dict[str, str]) -> Any:
    """`POST /connections/{id}/test` of a new hp-siteflow connection, as the space's key."""
    body = {
        "name": "sf-test",
        "kind": "hp-siteflow",
        "baseUrl": base_url,
        "credentials": credentials,
    }
    made = api.post("/api/v1/connections", body)
    assert made.status_code == 201, made.content
    answer = api.post(f"/api/v1/connections/{made.json()['id']}/test", {})
    Connection.objects.filter(name="sf-test").delete()
    assert answer.status_code == 200, answer.content
    return answer.json()


def test_the_connection_test_makes_one_signed_harmless_call(
    api: ApiClient, tenant: Tenant, fake: FakeSiteflow
) -> None:
    good = {"key": fake.key, "secret": fake.secret}
    assert connection_test(api, fake.base_url, good) == {
        "ok": True,
        "status": 200,
        "message": "Site Flow accepted the signed request",
    }
    assert fake.calls() == [("GET", f"{PREFIX}/api/order")]
    assert fake.requests[0].query == {"pagesize": ["1"]}
    bad = connection_test(api, fake.base_url, {"key": fake.key, "secret": "not-the-secret"})
    assert bad == {
        "ok": False,
        "status": 401,
        "message": "Site Flow answered 401: Invalid HMAC signature",
    }
    down = connection_test(api, f"http://127.0.0.1:{free_port()}/siteflow", good)
    assert (down["ok"], down["status"]) == (False, None)
    assert down["message"].startswith("Site Flow unreachable: ")
    assert fake.secret not in json.dumps([bad, down])
