"""consume-rest-api through the runner: connector call, feedback endpoint, relays, 409s."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import pytest
from pytest_httpserver import HTTPServer

from fabflow.flows.models import TaskRun
from fabflow.orders.models import Asset, Order, OrderEvent, Part, UpdateDelivery
from tests.factories import ApiClient, Tenant
from tests.integration.test_engine import flow, run, run_engine, start

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def connector(httpserver: HTTPServer, settings: Any) -> HTTPServer:
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    httpserver.expect_request("/export", method="POST").respond_with_json({"ok": True})
    httpserver.expect_request("/updates", method="POST").respond_with_data("ok")
    return httpserver


def connector_flow(httpserver: HTTPServer) -> list[dict[str, Any]]:
    return flow(
        {
            "key": "export",
            "handlerKey": "consume-rest-api",
            "payload": {"uri": httpserver.url_for("/export"), "sendsFeedback": True},
        }
    )


def feedback(api: ApiClient, order: Order, body: Any) -> Any:
    request = json.loads([r for r, _ in _log(order)][-1].get_data())
    return ApiClient(None).post(urlsplit(request["feedbackUrl"]).path, body)


_LOGS: dict[Any, HTTPServer] = {}


def _log(order: Order) -> list[Any]:
    server = _LOGS[order.pk]
    return [entry for entry in server.log if entry[0].path == "/export"]


def started(api: ApiClient, tenant: Tenant, connector: HTTPServer) -> Order:
    order = start(api, tenant, connector_flow(connector), updateUrl=connector.url_for("/updates"))
    _LOGS[order.pk] = connector
    return order


def test_connector_gets_the_contract_body_and_the_task_waits(
    api: ApiClient, tenant: Tenant, connector: HTTPServer
) -> None:
    order = started(api, tenant, connector)
    request = _log(order)[0][0]
    body = json.loads(request.get_data())
    task = run(order, "export")
    assert body["event"] == "task.started"
    assert body["order"]["id"] == str(order.id)
    assert body["task"] == {
        "id": str(task.id),
        "key": "export",
        "handlerKey": "consume-rest-api",
        "payload": {
            "uri": connector.url_for("/export"),
            "sendsFeedback": True,
            "method": "POST",
            "headers": {},
        },
        "attempt": 1,
    }
    assert "/api/v1/feedback/" in body["feedbackUrl"]
    assert request.headers["webhook-id"] == str(task.id)
    assert task.state == "waiting"


def test_feedback_progress_then_success_ends_the_task(
    api: ApiClient, tenant: Tenant, connector: HTTPServer
) -> None:
    order = started(api, tenant, connector)
    part = Part.objects.filter(order=order).first()
    assert part is not None
    progress = feedback(api, order, {"status": "progress", "message": "printing"})
    assert progress.status_code == 202
    done = feedback(
        api,
        order,
        {
            "status": "success",
            "message": "printed",
            "manufacturingData": {str(part.id): {"printTimeS": 1161}},
        },
    )
    assert done.status_code == 202
    run_engine(order)
    assert order.status == "success"
    part.refresh_from_db()
    assert part.manufacturing_data == {"printTimeS": 1161}
    feedback_events = OrderEvent.objects.filter(order=order, kind="connector.feedback")
    assert [e.data["status"] for e in feedback_events] == ["progress", "success"]
    relayed = UpdateDelivery.objects.filter(order=order, event="order.feedback")
    assert [d.body["feedback"]["status"] for d in relayed] == ["progress", "success"]


def test_repeated_and_late_feedback_is_409(
    api: ApiClient, tenant: Tenant, connector: HTTPServer
) -> None:
    order = started(api, tenant, connector)
    assert feedback(api, order, {"status": "success"}).status_code == 202
    assert feedback(api, order, {"status": "success"}).status_code == 409
    run_engine(order)
    assert feedback(api, order, {"status": "progress"}).status_code == 409
    assert TaskRun.objects.get(order=order).state == "succeeded"


def test_failure_feedback_fails_the_flow(
    api: ApiClient, tenant: Tenant, connector: HTTPServer
) -> None:
    order = started(api, tenant, connector)
    feedback(api, order, {"status": "failure", "message": "printer jammed"})
    run_engine(order)
    assert order.status == "failure"
    assert "printer jammed" in TaskRun.objects.get(order=order).reason


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"status": "done"}, 422),
        ({"status": "success", "extra": 1}, 422),
        ("not json", 400),
    ],
)
def test_bad_feedback_is_4xx(
    api: ApiClient, tenant: Tenant, connector: HTTPServer, body: Any, status: int
) -> None:
    order = started(api, tenant, connector)
    request = json.loads(_log(order)[0][0].get_data())
    path = urlsplit(request["feedbackUrl"]).path
    client = ApiClient(None)
    response = client.post(path, raw="{not json") if body == "not json" else client.post(path, body)
    assert response.status_code == status
    assert TaskRun.objects.get(order=order).state == "waiting"


def test_forged_feedback_token_is_404(db: None) -> None:
    response = ApiClient(None).post("/api/v1/feedback/forged:token", {"status": "success"})
    assert response.status_code == 404


def test_feedback_assets_are_attached_to_the_named_part(
    api: ApiClient, tenant: Tenant, connector: HTTPServer
) -> None:
    order = started(api, tenant, connector)
    part = Part.objects.filter(order=order).first()
    assert part is not None
    body = {
        "status": "success",
        "assets": [{"name": "build.gcode", "contentBase64": "RzEgWDEw", "partId": str(part.id)}],
    }
    assert feedback(api, order, body).status_code == 202
    asset = Asset.objects.get(order=order, name="build.gcode")
    assert asset.part_id == part.id
    assert asset.product_id == part.product_id
    assert asset.file.read() == b"G1 X10"


def test_feedback_naming_a_foreign_part_is_422_and_changes_nothing(
    api: ApiClient, tenant: Tenant, connector: HTTPServer
) -> None:
    order = started(api, tenant, connector)
    body = {
        "status": "success",
        "message": "x",
        "assets": [
            {
                "name": "a.gcode",
                "contentBase64": "YQ==",
                "partId": "00000000-0000-0000-0000-000000000000",
            }
        ],
    }
    response = feedback(api, order, body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "assets", 0, "partId"]
    assert not Asset.objects.filter(order=order, name="a.gcode").exists()
    assert not OrderEvent.objects.filter(order=order, kind="connector.feedback").exists()
    assert TaskRun.objects.get(order=order).state == "waiting"


@pytest.mark.parametrize("prefix", ["/", "/fabflow/"])
def test_task_links_are_their_routes_under_the_script_prefix(prefix: str) -> None:
    from uuid import uuid4

    from django.conf import settings
    from django.urls import get_script_prefix, reverse, set_script_prefix

    from fabflow.flows.engine.context import (
        CONFIRM_SALT,
        FEEDBACK_SALT,
        confirmation_url,
        feedback_url,
        run_id_from,
    )

    run_id, before = str(uuid4()), get_script_prefix()
    set_script_prefix(prefix)
    try:
        for make, route, salt in (
            (feedback_url, "api-1:connector_feedback", FEEDBACK_SALT),
            (confirmation_url, "confirm_task", CONFIRM_SALT),
        ):
            url = make(run_id)
            token = url.rstrip("/").rsplit("/", 1)[-1]
            assert url == settings.BASE_URL + reverse(route, kwargs={"token": token})
            assert url.startswith(settings.BASE_URL + prefix)
            assert run_id_from(token, salt) == run_id
    finally:
        set_script_prefix(before)
