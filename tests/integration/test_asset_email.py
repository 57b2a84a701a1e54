"""asset-email: the confirmation link always present, and URL assets awaited before sending."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from pytest_httpserver import HTTPServer

from fabflow.flows.handlers import builtin
from fabflow.orders.models import Order, OrderEvent
from tests.factories import ApiClient, Tenant
from tests.integration.test_doc_examples import part, received, serve_mail
from tests.integration.test_engine import flow, run, run_engine, start
from tests.support.servers import SmtpSink

pytestmark = pytest.mark.django_db(transaction=True)

ZIP = {"name": "print.zip", "contentBase64": "UEsFBg=="}
BODY = "Dear {customerInfo.name},<br>{assetOverview}"
NO_PLACE_WARNING = {
    "loc": ["body", "definition", 0, "taskDefinitions", 0, "payload", "body"],
    "msg": "no {confirmationUrl}: the confirmation link is added as a button under the body",
}


def asset_mail(**payload: Any) -> dict[str, Any]:
    defaults = {"filter": r"\.zip$", "recipients": ["{customerEmail}"], "subject": "Your files"}
    return {"key": "files", "handlerKey": "asset-email", "payload": {**defaults, **payload}}


@pytest.fixture
def sink(settings: Any) -> Iterator[SmtpSink]:
    server = serve_mail(settings)
    yield server
    server.stop()


def confirm_links(html: str) -> list[str]:
    return re.findall(r'href="(http[^"]*/confirm/[^"]+)"', html)


# The confirmation link --------------------------------------------------------------------------


def test_without_a_placeholder_the_link_is_a_button_under_the_body(
    api: ApiClient, tenant: Tenant, sink: SmtpSink
) -> None:
    # given a needConfirmation body that does not place {confirmationUrl}
    task = asset_mail(body=BODY, needConfirmation=True)
    # when the order's files are e-mailed
    order = start(api, tenant, flow(task), products=[{"name": "Ring", "assets": [ZIP]}])
    # then the e-mail carries the link once, after the body, in the HTML and the text part
    message = received(sink)["Your files"]
    html = part(message, "html")
    [link] = confirm_links(html)
    assert html.index("print.zip") < html.index(link)
    assert part(message, "plain").endswith(f"Confirm your order ({link})\n")
    # and the link confirms the order
    path = "/" + link.split("/", 3)[3]
    assert Client().post(path).status_code == 200
    run_engine(order)
    assert Order.objects.get(pk=order.pk).status == "success"


def test_with_a_placeholder_the_link_is_there_once(
    api: ApiClient, tenant: Tenant, sink: SmtpSink
) -> None:
    body = BODY + '<p><a href="{confirmationUrl}">Looks right</a></p>'
    start(api, tenant, flow(asset_mail(body=body, needConfirmation=True)))
    html = part(received(sink)["Your files"], "html")
    assert len(confirm_links(html)) == 1
    assert "Confirm your order" not in html


def test_validation_warns_about_a_body_without_the_placeholder(api: ApiClient) -> None:
    definition = flow(asset_mail(body=BODY, needConfirmation=True))
    response = api.post("/api/v1/flows/validate", {"definition": definition})
    assert response.status_code == 200
    assert response.json() == {"valid": True, "errors": [], "warnings": [NO_PLACE_WARNING]}


@pytest.mark.parametrize(
    "payload",
    [
        {"body": BODY, "needConfirmation": False},
        {"body": "{confirmationUrl}", "needConfirmation": True},
    ],
)
def test_no_warning_when_the_link_has_its_place_or_is_not_needed(
    api: ApiClient, payload: dict[str, Any]
) -> None:
    response = api.post("/api/v1/flows/validate", {"definition": flow(asset_mail(**payload))})
    assert response.json()["warnings"] == []


def test_the_editor_shows_the_warning(staff: Client) -> None:
    body = '[{"key": "s", "name": "S", "taskDefinitions": [{"key": "files", "handlerKey": "asset-email", "payload": {"filter": "zip", "recipients": "a@x.example", "subject": "s", "body": "{assetOverview}", "needConfirmation": true}}]}]'  # noqa: E501
    response = staff.post("/flows/preview", body, content_type="application/json")
    assert response.status_code == 200
    assert response.json()["valid"] is True
    assert response.json()["warnings"] == [
        {
            "loc": [0, "taskDefinitions", 0, "payload", "body"],
            "path": "[0].taskDefinitions[0].payload.body",
            "msg": NO_PLACE_WARNING["msg"],
        }
    ]


# URL assets -------------------------------------------------------------------------------------


@pytest.fixture
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(builtin, "ASSET_POLL_FIRST_S", 0.05, raising=False)


def url_order(api: ApiClient, tenant: Tenant, server: HTTPServer, **task: Any) -> Order:
    assets = [{"name": "print.zip", "url": server.url_for("/print.zip")}]
    definition = flow({**asset_mail(body=BODY), **task})
    return start(api, tenant, definition, products=[{"name": "Ring", "assets": assets}])


def fetch_assets() -> None:
    call_command("worker", batch=True, verbosity=0)


def test_the_mail_waits_for_a_url_asset_that_arrives_later(
    api: ApiClient, tenant: Tenant, sink: SmtpSink, httpserver: HTTPServer, settings: Any,
    fast_polls: None,
) -> None:  # fmt: skip
    # given an order whose zip is still to be fetched from a URL
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    httpserver.expect_request("/print.zip").respond_with_data(b"PK\x05\x06" + bytes(18))
    order = url_order(api, tenant, httpserver)
    # then the task waits, naming the asset, and nothing is sent yet
    assert run(order, "files").state == "waiting"
    assert sink.messages == []
    waiting = OrderEvent.objects.get(order=order, kind="task.waiting")
    assert waiting.message == "Task files: waiting for assets to be fetched: print.zip"
    # when the asset is fetched and the task looks again
    fetch_assets()
    time.sleep(0.3)
    run_engine(order)
    # then the e-mail goes out with the file's link and the task succeeds
    assert ">print.zip</a>" in part(received(sink)["Your files"], "html")
    assert run(order, "files").state == "succeeded"


def test_a_failed_fetch_fails_the_task_with_the_asset_name(
    api: ApiClient, tenant: Tenant, sink: SmtpSink, httpserver: HTTPServer, settings: Any,
    fast_polls: None,
) -> None:  # fmt: skip
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    httpserver.expect_request("/print.zip").respond_with_data(b"gone", status=404)
    order = url_order(api, tenant, httpserver)
    fetch_assets()
    time.sleep(0.3)
    run_engine(order)
    task = run(order, "files")
    assert task.state == "failed"
    assert task.reason.startswith("asset print.zip could not be fetched: ")
    assert "404" in task.reason
    assert sink.messages == []
    assert order.status == "failure"


def test_the_task_waits_for_url_assets_up_to_its_timeout(
    api: ApiClient, tenant: Tenant, sink: SmtpSink, httpserver: HTTPServer, fast_polls: None
) -> None:
    # given a URL asset that is never fetched (no worker runs) and a 300 ms timeout
    order = url_order(api, tenant, httpserver, timeoutDuration=300)
    assert run(order, "files").state == "waiting"
    # when the timeout has passed
    time.sleep(0.5)
    run_engine(order)
    # then the task fails naming the asset, without e-mail
    task = run(order, "files")
    assert task.state == "failed"
    assert task.reason == "assets not fetched within the task's timeout: print.zip"
    assert sink.messages == []
