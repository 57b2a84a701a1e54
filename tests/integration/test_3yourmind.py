"""`3yourmind-order` through the real engine against a fake 3YOURMIND on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from fabflow.connectors.models import Connection
from fabflow.flows.models import TaskRun
from fabflow.orders.assets import NewAsset, create_assets
from fabflow.orders.models import Asset, Order, OrderEvent
from tests.factories import ApiClient, Tenant
from tests.integration.test_engine import flow, run, run_engine, start
from tests.support.fakes import DATA, recorded
from tests.support.threeyourmind import FakeThreeYourMind

pytestmark = pytest.mark.django_db(transaction=True)

STL = (DATA / "3yourmind" / "ring.stl").read_bytes()
DEADLINE = "2026-12-24T12:00:00Z"


@pytest.fixture
def partner(settings: Any) -> Iterator[FakeThreeYourMind]:
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    settings.FABFLOW_CONNECTOR_TIMEOUT = 1.0
    fake = FakeThreeYourMind()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def connection(tenant: Tenant, partner: FakeThreeYourMind) -> Connection:
    return Connection.objects.create(
        organization=tenant.org,
        space=tenant.space,
        name="3ym",
        kind="3yourmind",
        base_url=partner.base_url + "/",
        credentials={"token": partner.token},
    )


def task(**payload: Any) -> dict[str, Any]:
    body = {"connection": "3ym", "mode": "order", "offerId": 42, "pollSeconds": 60, **payload}
    return {"key": "partner", "handlerKey": "3yourmind-order", "payload": body}


def products(*units: int) -> list[dict[str, Any]]:
    content = base64.b64encode(STL).decode()
    return [
        {
            "name": f"Ring {i}",
            "units": n,
            "value": "49.50",
            "assets": [
                {"name": f"ring-{i}.stl", "contentType": "model/stl", "contentBase64": content}
            ],
        }
        for i, n in enumerate(units)
    ]


def ordered(api: ApiClient, tenant: Tenant, units: tuple[int, ...] = (2,), **payload: Any) -> Order:
    return start(api, tenant, flow(task(**payload)), products=products(*units), deadline=DEADLINE)


def tick(order: Order, times: int = 1) -> TaskRun:
    """Let the run's timer (a poll or a retry) fall due now, and run the engine."""
    for _ in range(times):
        TaskRun.objects.filter(order=order, state__in=["running", "waiting"]).update(
            wake_at=timezone.now()
        )
        run_engine(order)
    return run(order, "partner")


def events(order: Order, kind: str) -> list[str]:
    rows = OrderEvent.objects.filter(order=order, kind=kind).order_by("created_at", "id")
    return [e.message for e in rows]


# Happy paths -------------------------------------------------------------------------------------


def test_order_mode_builds_the_basket_and_orders_it_polling_to_shipped(
    api: ApiClient, tenant: Tenant, partner: FakeThreeYourMind, connection: Connection
) -> None:
    # given an order of two products (2 and 3 units), each with an STL file
    order = ordered(api, tenant, units=(2, 3))
    # then one basket with one line per file, both files uploaded; the analysis is pending
    assert partner.baskets == [1]
    assert [(line.basket_id, line.file) for line in partner.lines.values()] == [
        (1, ("ring-0.stl", STL)),
        (1, ("ring-1.stl", STL)),
    ]
    assert run(order, "partner").state == "waiting"
    assert partner.calls("PATCH", r"/user-panel/baskets/1/lines/\d+/") == []
    # when the partner finishes its analysis (two pending polls)
    tick(order, 2)
    # then each line got its quantity, offer and preferred due date, and the order was placed
    patches = [line.patch for line in partner.lines.values()]
    assert patches == [
        recorded("3yourmind", "line-patch.request.json"),
        {**recorded("3yourmind", "line-patch.request.json"), "quantity": 3},
    ]
    assert list(partner.orders.values()) == [recorded("3yourmind", "order.request.json")]
    # and the order is polled until it ships
    assert tick(order).state == "waiting"
    done = tick(order)
    assert done.state == "succeeded"
    assert done.result == {
        "basketId": 1,
        "lines": [
            {"assetId": done.result["lines"][0]["assetId"], "name": "ring-0.stl", "lineId": 1},
            {"assetId": done.result["lines"][1]["assetId"], "name": "ring-1.stl", "lineId": 2},
        ],
        "orderId": 1,
        "status": "shipped",
    }
    assert partner.violations == []
    assert len(partner.calls("GET", "/user-panel/orders/1/")) == 3
    # and the timeline shows each new thing the polls found, once
    assert events(order, "task.waiting") == [
        "Task partner: 3YOURMIND is analysing ring-0.stl, ring-1.stl",
        "Task partner: 3YOURMIND order 1: ordered",
        "Task partner: 3YOURMIND order 1: in_production",
    ]


def test_quote_mode_requests_a_quote_from_the_partner_and_waits_for_it(
    api: ApiClient, tenant: Tenant, partner: FakeThreeYourMind, connection: Connection
) -> None:
    # given quote mode with a supplier and a templated message
    order = ordered(
        api, tenant, mode="quote", partnerId=7, message="Order {order.name}: please quote"
    )
    # when the analysis finishes and the partner quotes on the second poll
    tick(order, 2)
    assert run(order, "partner").state == "waiting"
    done = tick(order)
    # then one request for quote went out, shaped as recorded, and no order
    assert list(partner.rfqs.values()) == [recorded("3yourmind", "request-for-quote.request.json")]
    assert partner.orders == {}
    assert done.state == "succeeded"
    assert (done.result["requestForQuoteId"], done.result["status"]) == (1, "quoted")
    assert partner.violations == []


def test_each_request_carries_the_token_header(
    api: ApiClient, tenant: Tenant, partner: FakeThreeYourMind, connection: Connection
) -> None:
    order = ordered(api, tenant)
    tick(order, 4)
    assert {r.headers["Authorization"] for r in partner.received} == {f"Token {partner.token}"}
    assert partner.calls("POST", "/files/")[0].query == {"basket_id": "1", "line_id": "1"}
    assert partner.calls("POST", "/files/")[0].form == {"unit": "mm"}


def test_an_offer_map_gives_each_product_its_offer(
    api: ApiClient, tenant: Tenant, partner: FakeThreeYourMind, connection: Connection
) -> None:
    order = ordered(api, tenant, units=(1, 1), offerId=None, offerMap={"Ring 0": 42, "Ring 1": 43})
    tick(order, 2)
    assert [line.patch["offerId"] for line in partner.lines.values()] == [42, 43]


def test_a_file_added_after_the_order_was_placed_stays_out_of_the_basket(
    api: ApiClient, tenant: Tenant, partner: FakeThreeYourMind, connection: Connection
) -> None:
    order = ordered(api, tenant)
    tick(order, 2)
    assert partner.orders != {}
    create_assets(order=order, new=[NewAsset("late.stl", Asset.Source.FLOW, "", content=STL)])
    tick(order)
    assert len(partner.lines) == 1
    assert len(partner.calls("POST", "/user-panel/baskets/1/lines/")) == 1


# Trouble -----------------------------------------------------------------------------------------


def test_a_bad_token_fails_the_task_with_the_partners_401(
    api: ApiClient, tenant: Tenant, partner: FakeThreeYourMind, connection: Connection
) -> None:
    connection.credentials = {"token": "wrong"}
    connection.save()
    order = ordered(api, tenant)
    task_run = run(order, "partner")
    assert task_run.state == "failed"
    assert task_run.reason == "3YOURMIND answered 401 to POST user-panel/baskets/: Invalid token."
    assert order.status == "failure"
    assert partner.baskets == []


def test_a_refused_line_fails_the_task_at_once_with_the_partners_message(
    api: ApiClient, tenant: Tenant, partner: FakeThreeYourMind, connection: Connection
) -> None:
    # given an offer the partner does not know
    order = ordered(api, tenant, offerId=999)
    # when the analysis is done and the line is updated
    task_run = tick(order, 2)
    # then the 400 is not retried: the task fails with the field and the partner's words
    assert task_run.state == "failed"
    assert task_run.reason == (
        "3YOURMIND answered 400 to PATCH user-panel/baskets/1/lines/1/: "
        'offerId: Invalid pk "999" - object does not exist.'
    )
    assert len(partner.calls("PATCH", r"/user-panel/baskets/1/lines/1/")) == 1
    assert events(order, "task.retry_scheduled") == []


def test_a_failed_file_analysis_fails_the_task(
    api: ApiClient, tenant: Tenant, partner: FakeThreeYourMind, connection: Connection
) -> None:
    partner.analysis_result = "failed"
    order = ordered(api, tenant)
    task_run = tick(order, 2)
    assert task_run.state == "failed"
    assert task_run.reason == (
        "3YOURMIND could not analyse ring-0.stl: "
        "The file could not be repaired: the mesh has no closed volume."
    )


def test_a_partner_that_is_down_is_retried_and_resumed_without_a_second_basket(
    api: ApiClient, tenant: Tenant, partner: FakeThreeYourMind, connection: Connection
) -> None:
    # given a partner that answers 503 to the first file upload
    partner.down(times=1, method="POST", path="^/files/$")
    order = ordered(api, tenant, units=(2, 3))
    # then the task waits for its retry, the failure on the timeline with the partner's status
    task_run = run(order, "partner")
    assert task_run.state == "running"
    assert task_run.reason == "3YOURMIND answered 503 to POST files/: 503 Service Unavailable"
    [retry] = events(order, "task.retry_scheduled")
    assert retry.startswith("Task partner: attempt 1 failed: 3YOURMIND answered 503 to POST files/")
    # when the retry runs with the partner back
    tick(order)
    # then the work resumed where it stopped: still one basket, one line per file
    assert partner.baskets == [1]
    assert len(partner.calls("POST", "/user-panel/baskets/")) == 1
    assert len(partner.calls("POST", "/user-panel/baskets/1/lines/")) == 2
    assert len(partner.calls("POST", "/files/")) == 3  # the refused upload, then both files
    assert [line.file is not None for line in partner.lines.values()] == [True, True]
    assert run(order, "partner").state == "waiting"


def test_a_failed_poll_is_retried_without_placing_a_second_order(
    api: ApiClient, tenant: Tenant, partner: FakeThreeYourMind, connection: Connection
) -> None:
    # given a placed order whose first status poll meets a partner that is down
    partner.down(times=1, method="GET", path="^/user-panel/orders/1/$")
    order = ordered(api, tenant)
    assert tick(order, 2).reason.startswith("3YOURMIND answered 503 to GET user-panel/orders/1/")
    # when polling goes on until the order ships
    done = tick(order, 3)
    # then it was placed once
    assert done.state == "succeeded"
    assert len(partner.calls("POST", "/user-panel/orders/")) == 1
    assert len(partner.calls("POST", "/user-panel/baskets/")) == 1


def test_an_outage_after_hours_of_polling_gets_its_own_retry_budget(
    api: ApiClient, tenant: Tenant, partner: FakeThreeYourMind, connection: Connection
) -> None:
    # given an order placed and polled for longer than the retry budget (6 hours)
    order = ordered(api, tenant)
    tick(order, 2)
    TaskRun.objects.filter(order=order).update(started_at=timezone.now() - timedelta(hours=7))
    # when the partner is down for two polls
    partner.down(times=2, method="GET", path="^/user-panel/orders/1/$")
    first = tick(order)
    second = tick(order)
    # then both are retried, counted from when the outage began, not from the task's start
    assert (first.state, second.state) == ("waiting", "waiting")
    assert second.reason.startswith("3YOURMIND answered 503 to GET user-panel/orders/1/")
    assert first.progress["troubleSince"] == second.progress["troubleSince"]
    assert len(events(order, "task.retry_scheduled")) == 2
    # and once the partner answers, the outage is over and polling goes on
    back = tick(order)
    assert (back.state, back.reason, back.progress["troubleSince"]) == ("waiting", "", None)
    assert tick(order).state == "succeeded"


def test_a_rate_limit_is_retried_no_sooner_than_retry_after(
    api: ApiClient, tenant: Tenant, partner: FakeThreeYourMind, connection: Connection
) -> None:
    throttled = {"detail": "Request was throttled. Expected available in 120 seconds."}
    partner.trouble(
        429, throttled, method="POST", path="^/user-panel/baskets/$", headers={"Retry-After": "120"}
    )
    before = timezone.now()
    order = ordered(api, tenant)
    task_run = run(order, "partner")
    assert task_run.state == "running"
    assert task_run.reason == (
        "3YOURMIND answered 429 to POST user-panel/baskets/: "
        "Request was throttled. Expected available in 120 seconds."
    )
    assert task_run.wake_at is not None
    assert (task_run.wake_at - before).total_seconds() >= 120
    assert partner.baskets == []
    assert tick(order).state == "waiting"
    assert partner.baskets == [1]


def test_a_partner_that_does_not_answer_in_time_is_retried(
    api: ApiClient, tenant: Tenant, partner: FakeThreeYourMind, connection: Connection
) -> None:
    # given a partner that stalls longer than the connector timeout (1 s here) once
    partner.trouble(200, method="POST", path="^/user-panel/baskets/$", stall=1.5)
    order = ordered(api, tenant)
    task_run = run(order, "partner")
    assert task_run.state == "running"
    assert "timed out" in task_run.reason
    assert len(events(order, "task.retry_scheduled")) == 1


def test_a_missing_connection_fails_the_task(api: ApiClient, tenant: Tenant) -> None:
    order = ordered(api, tenant)
    task_run = run(order, "partner")
    assert (task_run.state, task_run.reason) == (
        "failed",
        f"no connection '3ym' in space {tenant.space.key}",
    )


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"offerId": None}, "offerId or offerMap is required"),
        ({"mode": "quote"}, "partnerId is required with mode 'quote'"),
        ({"pollSeconds": 0}, "greater than or equal to 1"),
    ],
)
def test_the_payload_is_checked_when_the_flow_is_saved(
    api: ApiClient, payload: dict[str, Any], error: str
) -> None:
    response = api.post("/api/v1/flows/validate", {"definition": flow(task(**payload))})
    assert error in response.content.decode()


def flow_examples(doc: str) -> list[Any]:
    """The flow definitions (JSON arrays) of a connector's page in docs/connectors/."""
    text = (DATA.parent.parent / "docs" / "connectors" / doc).read_text()
    blocks = re.findall(r"```json\n(.*?)```", text, flags=re.S)
    return [json.loads(block) for block in blocks if block.lstrip().startswith("[")]


def test_the_documented_flow_example_is_valid(api: ApiClient) -> None:
    [example] = flow_examples("3yourmind.md")
    response = api.post("/api/v1/flows/validate", {"definition": example})
    assert response.json()["errors"] == []


# Connection test ---------------------------------------------------------------------------------


def test_the_connection_test_reads_the_users_preferences_with_the_token(
    api: ApiClient, partner: FakeThreeYourMind, connection: Connection
) -> None:
    response = api.post(f"/api/v1/connections/{connection.id}/test", {})
    assert response.json() == {
        "ok": True,
        "status": 200,
        "message": "3YOURMIND answered 200: the credentials work",
    }
    [read] = partner.received
    assert (read.method, read.path) == ("GET", "/my-profile/preferences/")
    assert read.headers["Authorization"] == f"Token {partner.token}"


@pytest.mark.parametrize(
    ("trouble", "status", "message"),
    [
        ("token", 401, "3YOURMIND answered 401: Invalid token."),
        ("down", 503, "3YOURMIND answered 503: 503 Service Unavailable"),
    ],
)
def test_the_connection_test_says_what_went_wrong(
    api: ApiClient,
    partner: FakeThreeYourMind,
    connection: Connection,
    trouble: str,
    status: int,
    message: str,
) -> None:
    if trouble == "token":
        partner.token = "another"
    else:
        partner.down()
    response = api.post(f"/api/v1/connections/{connection.id}/test", {})
    assert response.json() == {"ok": False, "status": status, "message": message}
