"""Built-in handlers with real TaskEffects against real SMTP and HTTP servers on 127.0.0.1."""

from __future__ import annotations

import base64
import email.policy
import re
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope
from pytest_httpserver import HTTPServer
from standardwebhooks.webhooks import Webhook
from werkzeug import Request, Response

from fabflow.flows.engine.context import (
    FEEDBACK_SALT,
    confirmation_url,
    feedback_url,
    run_id_from,
    template_context,
)
from fabflow.flows.engine.effects import TaskEffects
from fabflow.flows.handlers.base import (
    Failed,
    Handler,
    HandlerContext,
    Outcome,
    RetryLater,
    Succeeded,
    TaskInfo,
    Waiting,
)
from fabflow.flows.handlers.builtin import (
    AssetEmail,
    ConsumeRestApi,
    ManualTask,
    SendEmail,
    Wait,
)
from fabflow.flows.handlers.payloads import ManualTaskPayload
from fabflow.orders.assets import check_download_token
from fabflow.orders.models import Order
from fabflow.orders.selectors import order_rows
from fabflow.orders.serializers import order_json, order_url
from tests.factories import ApiClient, Tenant, order_body

RUN_ID = "7d1f0c3e-5b2a-4c8e-9f61-0a2b3c4d5e6f"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
MESSAGE_ID = f"<taskrun-{RUN_ID}@localhost>"


# Orders and contexts --------------------------------------------------------------------------


def create_order(api: ApiClient, **overrides: Any) -> Order:
    body = order_body(
        customerInfo={"name": "Ann <b>& Co", "email": "ann@example.com"},
        deadline="2026-12-24T12:00:00Z",
        updateUrl="https://shop.example/u",
        **overrides,
    )
    response = api.post("/api/v1/orders", body)
    assert response.status_code == 201, response.content
    return Order.objects.get(pk=response.json()["id"])


@pytest.fixture
def order(api: ApiClient) -> Order:
    return create_order(api, data={"channel": "web", "cc": "sales@shop.example"})


def make_ctx(
    handler: Handler,
    order: Order,
    payload: dict[str, Any],
    *,
    run_id: str = RUN_ID,
    now: datetime = NOW,
    extra: dict[str, Any] | None = None,
    snapshot: dict[str, Any] | None = None,
) -> HandlerContext:
    """A context as the runner builds it: the API order object and TaskEffects for one run."""
    snapshot = snapshot if snapshot is not None else order_json(order, *order_rows(order))
    # The template context and links come from the engine's own builder (engine/context.py),
    # so a root the runner offers (orderUrl, addresses, products, ...) is offered here too.
    effects = TaskEffects(
        order=order,
        run_id=run_id,
        context=lambda: template_context(order, snapshot, run_id),
    )
    return HandlerContext(
        order=snapshot,
        payload=handler.payload_model.model_validate(payload),
        task=TaskInfo(
            id=run_id,
            key="task-key-3",
            handler_key=handler.key,
            attempt=1,
            delivery=1,
            idempotency_key=run_id,
        ),
        services=effects,
        now=now,
        feedback_url=feedback_url(run_id),
        confirmation_url=confirmation_url(run_id),
        extra=extra if extra is not None else {"startedAt": NOW},
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# SMTP -----------------------------------------------------------------------------------------


class Mailbox:
    """An aiosmtpd handler that accepts and keeps every message."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 OK"

    def messages(self) -> list[EmailMessage]:
        parser = BytesParser(EmailMessage, policy=email.policy.default)
        return [parser.parsebytes(e.original_content or b"") for e in self.envelopes]


class RefusesRecipients(Mailbox):
    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        return "550 5.1.1 no such user"


class Greylists(Mailbox):
    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        return "450 4.2.0 greylisted"


class TryLater(Mailbox):
    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        return "451 4.3.0 try again later"


@pytest.fixture
def smtp(settings: Any) -> Iterator[Callable[[Mailbox], Mailbox]]:
    """Start an SMTP server with the given handler and point Django's SMTP backend at it."""
    controllers: list[Controller] = []

    def start(handler: Mailbox) -> Mailbox:
        port = closed_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port)
        controller.start()
        controllers.append(controller)
        settings.EMAIL_PORT = port
        return handler

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.FABFLOW_SMTP_TIMEOUT = 2
    yield start
    for controller in controllers:
        controller.stop()


def html_of(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content()).rstrip("\n")


MAIL = {
    "recipients": ["{customerEmail}", "ops@shop.example"],
    "subject": "Order {order.name} for {customerInfo.name}",
    "body": "<p>Dear {customerInfo.name}</p>",
}


def test_send_email_delivers_the_rendered_mail_with_the_run_message_id(
    order: Order, smtp: Callable[[Mailbox], Mailbox]
) -> None:
    # given a mail server
    mailbox = smtp(Mailbox())
    # when a send-email task runs
    outcome = SendEmail().run(make_ctx(SendEmail(), order, MAIL))
    # then the server got one mail with rendered fields and the run's Message-ID
    assert outcome == Succeeded(result={"recipients": ["ann@example.com", "ops@shop.example"]})
    assert [e.rcpt_tos for e in mailbox.envelopes] == [["ann@example.com", "ops@shop.example"]]
    [message] = mailbox.messages()
    assert message["Message-ID"] == MESSAGE_ID
    assert message["Subject"] == "Order WEB-1001 for Ann <b>& Co"
    assert message["To"] == "ann@example.com, ops@shop.example"
    assert html_of(message) == "<p>Dear Ann &lt;b&gt;&amp; Co</p>"


def test_send_email_renders_the_roots_the_engine_offers(
    order: Order, smtp: Callable[[Mailbox], Mailbox]
) -> None:
    # given a mail server and a mail using the links and the order's own roots
    mailbox = smtp(Mailbox())
    payload = {
        "recipients": ["{customerEmail}"],
        "subject": "{order.thirdPartyOrderId} {order.status}",
        "body": "<a href='{orderUrl}'>{order.name}</a> <a href='{confirmationUrl}'>ok</a>",
    }
    # when a send-email task runs
    SendEmail().run(make_ctx(SendEmail(), order, payload))
    # then the links are the ones the engine builds for this order and run
    [message] = mailbox.messages()
    assert message["Subject"] == "WEB-1001 created"
    assert html_of(message) == (
        f"<a href='{order_url(order)}'>WEB-1001</a> <a href='{confirmation_url(RUN_ID)}'>ok</a>"
    )


def test_two_deliveries_of_one_run_carry_the_same_message_id(
    order: Order, smtp: Callable[[Mailbox], Mailbox]
) -> None:
    # given a mail server
    mailbox = smtp(Mailbox())
    # when the same run's handler is delivered twice (a retry after a lost acknowledgement)
    for _ in range(2):
        SendEmail().run(make_ctx(SendEmail(), order, MAIL))
    # then both mails carry the same Message-ID, so the receiver can drop the duplicate
    assert [m["Message-ID"] for m in mailbox.messages()] == [MESSAGE_ID, MESSAGE_ID]


def test_another_run_has_another_message_id(
    order: Order, smtp: Callable[[Mailbox], Mailbox]
) -> None:
    # given a mail server / when another run sends / then its Message-ID names that run
    mailbox = smtp(Mailbox())
    other = "00000000-0000-4000-8000-000000000001"
    SendEmail().run(make_ctx(SendEmail(), order, MAIL, run_id=other))
    assert [m["Message-ID"] for m in mailbox.messages()] == [f"<taskrun-{other}@localhost>"]


def test_cc_and_bcc_are_rendered_and_empty_recipients_dropped(
    order: Order, smtp: Callable[[Mailbox], Mailbox]
) -> None:
    # given recipients of which one renders empty, a templated cc and a bcc
    mailbox = smtp(Mailbox())
    payload = {
        **MAIL,
        "recipients": ["{customerEmail}", "{data.nobody}"],
        "cc": ["{data.cc}", " "],
        "bcc": ["audit@shop.example"],
    }
    # when the task runs
    outcome = SendEmail().run(make_ctx(SendEmail(), order, payload))
    # then the empty ones are dropped and bcc is in the envelope only
    assert outcome == Succeeded(result={"recipients": ["ann@example.com"]})
    assert [e.rcpt_tos for e in mailbox.envelopes] == [
        ["ann@example.com", "sales@shop.example", "audit@shop.example"]
    ]
    [message] = mailbox.messages()
    assert (message["To"], message["Cc"], message["Bcc"]) == (
        "ann@example.com",
        "sales@shop.example",
        None,
    )


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"recipient": "{data.nobody}"}, "no recipient"),
        ({"recipients": ["{data.nobody}", " "]}, "no recipient"),
        ({"recipient": "{data.evil}"}, "the value of {data.evil} contains CR or LF"),
        (
            {"recipient": "a@x.example", "cc": ["{data.evil}"]},
            "the value of {data.evil} contains CR or LF",
        ),
        (
            {"recipient": "a@x.example", "subject": "Hi {data.evil}"},
            "the value of {data.evil} contains CR or LF",
        ),
    ],
)
def test_send_email_fails_without_sending(
    api: ApiClient,
    smtp: Callable[[Mailbox], Mailbox],
    payload: dict[str, Any],
    reason: str,
) -> None:
    # given an order whose data would inject a header, and a mail server
    order = create_order(api, data={"evil": "x@y.example\r\nBcc: all@evil.example"})
    mailbox = smtp(Mailbox())
    # when a task with no usable recipient or a broken header runs
    outcome = SendEmail().run(make_ctx(SendEmail(), order, {**MAIL, "recipients": None, **payload}))
    # then it fails with the reason and nothing is sent
    assert outcome == Failed(reason)
    assert mailbox.envelopes == []


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        (
            RefusesRecipients,
            Failed(
                "recipients refused: ann@example.com: 550 5.1.1 no such user; "
                "ops@shop.example: 550 5.1.1 no such user"
            ),
        ),
        (TryLater, RetryLater("SMTP 451: b'4.3.0 try again later'")),
        (
            Greylists,
            RetryLater(
                "recipients deferred: ann@example.com: 450 4.2.0 greylisted; "
                "ops@shop.example: 450 4.2.0 greylisted"
            ),
        ),
    ],
)
def test_smtp_refusals(
    order: Order,
    smtp: Callable[[Mailbox], Mailbox],
    server: type[Mailbox],
    expected: Outcome,
) -> None:
    # given a server refusing recipients (5xx) or answering 451 to the data
    mailbox = smtp(server())
    # when the task runs / then a permanent refusal fails it and a 4xx asks for a retry
    assert SendEmail().run(make_ctx(SendEmail(), order, MAIL)) == expected
    assert mailbox.envelopes == []


def test_smtp_server_down_is_retried(order: Order, smtp: Any, settings: Any) -> None:
    # given no server listening on the configured port
    settings.EMAIL_PORT = closed_port()
    # when the task runs
    outcome = SendEmail().run(make_ctx(SendEmail(), order, MAIL))
    # then it asks to be retried later
    assert outcome == RetryLater("mail server unavailable: [Errno 111] Connection refused")


# Asset e-mail ---------------------------------------------------------------------------------

ZIP_FILTER = r"^\s*(.*\.[zZ][iI][pP])\s*$"
ASSET_MAIL = {
    "filter": ZIP_FILTER,
    "recipients": ["{customerEmail}"],
    "subject": "Your files",
    "body": "Dear {customerInfo.name},<br>{assetOverview}<a href='{confirmationUrl}'>ok</a>",
}


def inline(name: str) -> dict[str, str]:
    return {"name": name, "contentBase64": base64.b64encode(name.encode()).decode()}


@pytest.fixture
def order_with_assets(api: ApiClient) -> Order:
    products = [
        {
            "name": "Ring",
            "assets": [inline("band.zip"), inline("notes.txt")],
            "parts": [{"name": "stone", "assets": [inline("Stone.ZIP"), inline("zip.stl")]}],
        }
    ]
    return create_order(api, products=products)


def zip_asset_ids(order: Order) -> list[str]:
    return sorted(str(a.id) for a in order.assets.all() if a.name in ("band.zip", "Stone.ZIP"))


def links(html: str) -> list[tuple[str, str]]:
    """(asset name, asset id) of each download link, checking that its token is valid."""
    found = []
    for href, name in re.findall(r'<li><a href="([^"]+)">([^<]+)</a></li>', html):
        url = urlsplit(href.replace("&amp;", "&"))
        asset_id = url.path.split("/")[-2]
        assert check_download_token(parse_qs(url.query)["token"][0], asset_id)
        found.append((name, asset_id))
    return sorted(found)


def test_asset_email_links_only_the_matching_assets(
    order_with_assets: Order, smtp: Callable[[Mailbox], Mailbox]
) -> None:
    # given an order with two .zip assets among others, and a mail server
    mailbox = smtp(Mailbox())
    # when an asset-email task with the zip filter runs
    ctx = make_ctx(AssetEmail(), order_with_assets, ASSET_MAIL)
    outcome = AssetEmail().run(ctx)
    # then the mail links the zip assets with valid tokens and the task succeeds with their ids
    assert isinstance(outcome, Succeeded)
    assert sorted(outcome.result["assets"]) == zip_asset_ids(order_with_assets)
    [message] = mailbox.messages()
    html = html_of(message)
    assert html.startswith("Dear Ann &lt;b&gt;&amp; Co,<br><ul><li><a href=")
    assert html.endswith(f"</li></ul><a href='{confirmation_url(RUN_ID)}'>ok</a>")
    by_name = {a.name: str(a.id) for a in order_with_assets.assets.all()}
    assert links(html) == [("Stone.ZIP", by_name["Stone.ZIP"]), ("band.zip", by_name["band.zip"])]


def test_asset_email_with_confirmation_waits_until_confirmed(
    order_with_assets: Order, smtp: Callable[[Mailbox], Mailbox]
) -> None:
    # given a mail server and a task that needs confirmation
    mailbox = smtp(Mailbox())
    ctx = make_ctx(AssetEmail(), order_with_assets, {**ASSET_MAIL, "needConfirmation": True})
    # when it runs, then it sends the mail and waits
    assert AssetEmail().run(ctx) == Waiting(message="waiting for confirmation")
    assert len(mailbox.envelopes) == 1
    # when other events arrive, then it keeps waiting; when confirmed, then it succeeds
    assert AssetEmail().on_event(ctx, {"kind": "feedback", "status": "success"}) is None
    assert AssetEmail().on_event(ctx, {"kind": "confirm"}) == Succeeded(result={"confirmed": True})


def test_asset_email_server_down_is_retried(
    order_with_assets: Order, smtp: Any, settings: Any
) -> None:
    # given no mail server / when the task runs / then it is retried, not left waiting
    settings.EMAIL_PORT = closed_port()
    ctx = make_ctx(AssetEmail(), order_with_assets, {**ASSET_MAIL, "needConfirmation": True})
    assert isinstance(AssetEmail().run(ctx), RetryLater)


# Connector ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def http_server() -> Iterator[HTTPServer]:
    # One server for the module: stopping one takes half a second.
    server = HTTPServer(host="127.0.0.1")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def connector(http_server: HTTPServer, settings: Any) -> Iterator[HTTPServer]:
    """The HTTP server, allow-listed and without expectations or log."""
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    settings.FABFLOW_CONNECTOR_TIMEOUT = 5
    http_server.clear()
    yield http_server
    http_server.clear()


def hook(server: HTTPServer, path: str = "/hook") -> dict[str, Any]:
    return {"uri": f"http://127.0.0.1:{server.port}{path}"}


def requests_seen(server: HTTPServer) -> list[Request]:
    return [request for request, _ in server.log]


def test_connector_gets_the_signed_task_started_message(
    order: Order, connector: HTTPServer, api: ApiClient, tenant: Tenant
) -> None:
    # given a connector answering 200
    connector.expect_request("/hook", method="PUT").respond_with_data("ok")
    payload = {**hook(connector), "method": "PUT", "headers": {"X-Order": "{order.name}"}}
    # when the task runs
    outcome = ConsumeRestApi().run(make_ctx(ConsumeRestApi(), order, payload))
    # then it succeeded and the connector got the contract's message, signed for the space
    assert outcome == Succeeded(result={"status": 200})
    [request] = requests_seen(connector)
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Order"] == "WEB-1001"
    assert request.headers["webhook-id"] == RUN_ID
    sent = Webhook(tenant.space.signing_secret).verify(request.get_data(), dict(request.headers))
    # the token inside the feedback URL carries its signing second: compare what it names
    feedback = sent.pop("feedbackUrl")
    assert feedback.startswith(feedback_url(RUN_ID).rsplit("/", 1)[0] + "/")
    assert run_id_from(feedback.rsplit("/", 1)[1], FEEDBACK_SALT) == RUN_ID
    assert sent == {
        "event": "task.started",
        "order": api.get(f"/api/v1/orders/{order.id}").json(),
        "task": {
            "id": RUN_ID,
            "key": "task-key-3",
            "handlerKey": "consume-rest-api",
            "payload": {**payload, "sendsFeedback": False},
            "attempt": 1,
        },
        "updateUrl": "https://shop.example/u",
    }


def test_every_delivery_of_one_run_has_the_same_webhook_id(
    order: Order, connector: HTTPServer
) -> None:
    # given a connector that fails once, then accepts
    connector.expect_ordered_request("/hook").respond_with_data("busy", status=503)
    connector.expect_ordered_request("/hook").respond_with_data("ok")
    # when the run is delivered twice
    outcomes = [ConsumeRestApi().run(make_ctx(ConsumeRestApi(), order, hook(connector)))]
    outcomes.append(ConsumeRestApi().run(make_ctx(ConsumeRestApi(), order, hook(connector))))
    # then the retry carries the same webhook-id
    assert outcomes == [RetryLater("connector answered 503"), Succeeded(result={"status": 200})]
    assert [r.headers["webhook-id"] for r in requests_seen(connector)] == [RUN_ID, RUN_ID]


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (201, {}, Succeeded(result={"status": 201})),
        (204, {}, Succeeded(result={"status": 204})),
        (500, {}, RetryLater("connector answered 500")),
        (408, {}, RetryLater("connector answered 408")),
        (429, {"Retry-After": "7"}, RetryLater("connector answered 429", retry_after_s=7.0)),
        (410, {}, Failed("connector answered 410")),
        (400, {}, Failed("connector answered 400")),
    ],
)
def test_connector_answers(
    order: Order,
    connector: HTTPServer,
    status: int,
    headers: dict[str, str],
    expected: Outcome,
) -> None:
    # given a connector answering `status` / when the task runs / then the outcome follows it
    connector.expect_request("/hook").respond_with_data("", status=status, headers=headers)
    assert ConsumeRestApi().run(make_ctx(ConsumeRestApi(), order, hook(connector))) == expected


def test_a_redirect_is_not_followed(order: Order, connector: HTTPServer) -> None:
    # given a connector redirecting elsewhere
    target = f"http://127.0.0.1:{connector.port}/elsewhere"
    connector.expect_request("/hook").respond_with_data("", 302, {"Location": target})
    connector.expect_request("/elsewhere").respond_with_data("ok")
    # when the task runs
    outcome = ConsumeRestApi().run(make_ctx(ConsumeRestApi(), order, hook(connector)))
    # then it fails and the target was never requested
    assert outcome == Failed(f"redirect to {target} not followed")
    assert [r.path for r in requests_seen(connector)] == ["/hook"]


def test_a_connector_hanging_past_the_timeout_is_retried(
    order: Order, connector: HTTPServer, settings: Any
) -> None:
    # given a connector that does not answer within the timeout
    settings.FABFLOW_CONNECTOR_TIMEOUT = 0.5
    release = threading.Event()

    def hang(request: Request) -> Response:
        release.wait(2)
        return Response("late")

    connector.expect_request("/hook").respond_with_handler(hang)
    # when the task runs
    try:
        outcome = ConsumeRestApi().run(make_ctx(ConsumeRestApi(), order, hook(connector)))
    finally:
        release.set()
    # then it asks to be retried
    assert outcome == RetryLater(f"timed out reading from 127.0.0.1:{connector.port}")


def test_a_connector_not_listening_is_retried(order: Order, settings: Any) -> None:
    # given nothing listening on an allow-listed address
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    port = closed_port()
    # when the task runs / then it is retried
    outcome = ConsumeRestApi().run(
        make_ctx(ConsumeRestApi(), order, {"uri": f"http://127.0.0.1:{port}/hook"})
    )
    assert isinstance(outcome, RetryLater)
    assert outcome.reason.startswith(f"cannot connect to 127.0.0.1:{port}: ")


def test_a_connector_not_allow_listed_fails_without_a_request(
    order: Order, connector: HTTPServer, settings: Any
) -> None:
    # given a loopback connector that the policy does not allow
    settings.OUTBOUND_ALLOWLIST = []
    connector.expect_request("/hook").respond_with_data("ok")
    # when the task runs
    outcome = ConsumeRestApi().run(make_ctx(ConsumeRestApi(), order, hook(connector)))
    # then it fails for good and the server saw nothing
    assert outcome == Failed("plain http is only allowed to allow-listed hosts, not 127.0.0.1")
    assert requests_seen(connector) == []


@pytest.mark.parametrize(
    "payload",
    [
        {"uri": "http://127.0.0.1/{data.evil}"},
        {"uri": "http://127.0.0.1/hook", "headers": {"X-Evil": "{data.evil}"}},
    ],
)
def test_line_breaks_in_the_uri_or_headers_fail_the_task(
    api: ApiClient, connector: HTTPServer, payload: dict[str, Any]
) -> None:
    # given an order whose data holds a line break used in the uri or a header
    order = create_order(api, data={"evil": "a\r\nX-Injected: 1"})
    # when the task runs / then it fails without a request
    outcome = ConsumeRestApi().run(make_ctx(ConsumeRestApi(), order, payload))
    assert outcome == Failed("the value of {data.evil} contains CR or LF")
    assert requests_seen(connector) == []


def test_a_feedback_connector_keeps_the_task_waiting(order: Order, connector: HTTPServer) -> None:
    # given a connector that accepts and will send feedback
    connector.expect_request("/hook").respond_with_data("", status=202)
    # when the task runs / then it waits for feedback
    ctx = make_ctx(ConsumeRestApi(), order, {**hook(connector), "sendsFeedback": True})
    assert ConsumeRestApi().run(ctx) == Waiting(message="waiting for connector feedback")


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"kind": "feedback", "status": "progress", "message": "slicing"}, None),
        (
            {"kind": "feedback", "status": "success", "message": "done", "data": {"job": "j-1"}},
            Succeeded(result={"job": "j-1"}, message="done"),
        ),
        ({"kind": "feedback", "status": "success"}, Succeeded(result={})),
        ({"kind": "feedback", "status": "failure", "message": "no printer"}, Failed("no printer")),
        ({"kind": "feedback", "status": "failure"}, Failed("connector reported failure")),
        ({"kind": "confirm"}, None),
    ],
)
def test_connector_feedback(order: Order, event: dict[str, Any], expected: Outcome | None) -> None:
    # given a waiting connector task / when feedback arrives / then it ends or keeps waiting
    ctx = make_ctx(ConsumeRestApi(), order, {"uri": "https://c.example/", "sendsFeedback": True})
    assert ConsumeRestApi().on_event(ctx, event) == expected


# Manual task ----------------------------------------------------------------------------------

REVIEW = {
    "title": "Check {order.name}",
    "outcomes": ["approve", "reject", "later"],
    "failureOutcomes": ["reject"],
}


def test_a_manual_task_waits_under_its_rendered_title(order: Order) -> None:
    # given a manual task / when it runs / then it waits with its title
    outcome = ManualTask().run(make_ctx(ManualTask(), order, REVIEW))
    assert outcome == Waiting(message="Check WEB-1001")


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            {"kind": "complete", "outcome": "approve", "comment": "fine"},
            Succeeded(result={"outcome": "approve", "comment": "fine"}),
        ),
        (
            {"kind": "complete", "outcome": "later"},
            Succeeded(result={"outcome": "later", "comment": ""}),
        ),
        (
            {"kind": "complete", "outcome": "reject", "comment": "too thin"},
            Failed("outcome reject: too thin"),
        ),
        ({"kind": "complete", "outcome": "reject"}, Failed("outcome reject")),
        ({"kind": "complete", "outcome": "maybe"}, None),
        ({"kind": "feedback", "status": "success"}, None),
    ],
)
def test_completing_a_manual_task(
    order: Order, event: dict[str, Any], expected: Outcome | None
) -> None:
    # given a waiting review / when a person completes it / then the outcome decides
    assert ManualTask().on_event(make_ctx(ManualTask(), order, REVIEW), event) == expected


@pytest.mark.parametrize(
    ("payload", "outcome", "error"),
    [
        (REVIEW, "approve", None),
        (REVIEW, "reject", None),
        (REVIEW, "Approve", "unknown outcome 'Approve'; expected one of: approve, reject, later"),
        ({"title": "t"}, "done", None),
        ({"title": "t"}, "approve", "unknown outcome 'approve'; expected one of: done"),
    ],
)
def test_check_outcome(payload: dict[str, Any], outcome: str, error: str | None) -> None:
    # given a manual task payload / when an outcome is checked / then unknown ones are named
    assert ManualTask().check_outcome(ManualTaskPayload.model_validate(payload), outcome) == error


# Wait -----------------------------------------------------------------------------------------

DEADLINE = datetime(2026, 12, 24, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("payload", "now", "expected"),
    [
        ({"durationMs": 60_000}, NOW + timedelta(minutes=1), Succeeded()),
        ({"durationMs": 60_000}, NOW + timedelta(hours=1), Succeeded()),
        ({"durationMs": 60_000}, NOW, Waiting(until=NOW + timedelta(minutes=1))),
        ({"durationMs": 0}, NOW, Succeeded()),
        ({"until": "deadline"}, NOW, Waiting(until=DEADLINE)),
        ({"until": "deadline"}, DEADLINE, Succeeded()),
        (
            {"until": "deadline", "offsetMs": -3_600_000},
            NOW,
            Waiting(until=DEADLINE - timedelta(hours=1)),
        ),
        (
            {"until": "deadline", "offsetMs": -3_600_000},
            DEADLINE - timedelta(minutes=5),
            Succeeded(),
        ),
        (
            {"until": "deadline", "offsetMs": 1500},
            DEADLINE,
            Waiting(until=DEADLINE + timedelta(milliseconds=1500)),
        ),
    ],
)
def test_wait(order: Order, payload: dict[str, Any], now: datetime, expected: Outcome) -> None:
    # given a wait started at NOW on an order due at DEADLINE / when it runs at `now`
    outcome = Wait().run(make_ctx(Wait(), order, payload, now=now))
    # then it is done once the time has come, else it waits until exactly then
    assert outcome == expected


@pytest.mark.parametrize(
    "deadline", ["2026-12-24T12:00:00Z", "2026-12-24T13:00:00+01:00", DEADLINE]
)
def test_wait_reads_the_deadline_as_text_or_datetime(order: Order, deadline: Any) -> None:
    # given an order snapshot whose deadline is ISO text or a datetime
    snapshot = {**order_json(order, *order_rows(order)), "deadline": deadline}
    # when a deadline wait runs / then it waits until that instant
    ctx = make_ctx(Wait(), order, {"until": "deadline"}, snapshot=snapshot)
    assert Wait().run(ctx) == Waiting(until=DEADLINE)


def test_wait_reads_the_start_as_text(order: Order) -> None:
    # given a run whose start time comes as ISO text / when it runs / then it counts from it
    ctx = make_ctx(Wait(), order, {"durationMs": 1000}, extra={"startedAt": NOW.isoformat()})
    assert Wait().run(ctx) == Waiting(until=NOW + timedelta(seconds=1))


def test_wait_for_the_deadline_of_an_order_without_one_fails(api: ApiClient) -> None:
    # given an order without deadline
    response = api.post("/api/v1/orders", order_body("NO-DEADLINE"))
    order = Order.objects.get(pk=response.json()["id"])
    # when a deadline wait runs / then it fails
    outcome = Wait().run(make_ctx(Wait(), order, {"until": "deadline", "offsetMs": 0}))
    assert outcome == Failed("the order has no deadline")


def test_handlers_declare_their_contract() -> None:
    # given the built-in handlers / then their keys and whether they wait for an event
    handlers = (SendEmail, AssetEmail, ConsumeRestApi, ManualTask, Wait)
    assert [(h.key, h.waits_for_event, bool(h.title)) for h in handlers] == [
        ("send-email", False, True),
        ("asset-email", True, True),
        ("consume-rest-api", True, True),
        ("manual-task", True, True),
        ("wait", False, True),
    ]
