"""The documentation's three task examples (docs/flows.md): kept, valid, and run end to end."""

from __future__ import annotations

import copy
import email.policy
import json
import re
from collections.abc import Iterator
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from pytest_httpserver import HTTPServer

from fabflow.orders.models import Order
from fabflow.orders.serializers import order_url
from tests.factories import ApiClient, Tenant
from tests.integration.test_engine import run, run_engine, start
from tests.support.servers import SmtpSink

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).parents[2]
EXAMPLES: list[dict[str, Any]] = json.loads(
    (ROOT / "tests" / "fixtures" / "doc_examples.json").read_text()
)


def stage(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"key": "examples", "name": "Examples", "taskDefinitions": tasks}]


def docs_examples() -> list[Any]:
    """The task definitions of docs/flows.md's examples block, one JSON value after another."""
    text = (ROOT / "docs" / "flows.md").read_text()
    start_at = text.index("```json", text.index("### The documentation's three examples")) + 7
    block = text[start_at : text.index("```", start_at)].strip()
    decoder, found, position = json.JSONDecoder(), [], 0
    while position < len(block):
        value, position = decoder.raw_decode(block, position)
        found.append(value)
        position += len(block[position:]) - len(block[position:].lstrip())
    return found


def serve_mail(settings: Any) -> SmtpSink:
    """A real SMTP server on 127.0.0.1, Django's SMTP backend pointed at it."""
    server = SmtpSink().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    return server


@pytest.fixture
def sink(settings: Any) -> Iterator[SmtpSink]:
    server = serve_mail(settings)
    yield server
    server.stop()


def received(sink: SmtpSink) -> dict[str, EmailMessage]:
    """The e-mails the server accepted, by subject."""
    parser = BytesParser(EmailMessage, policy=email.policy.default)
    messages = [parser.parsebytes(raw) for raw in sink.messages]
    return {str(message["Subject"]): message for message in messages}


def part(message: EmailMessage, kind: str) -> str:
    body = message.get_body((kind,))
    assert body is not None
    return str(body.get_content()).replace("\r\n", "\n")


def test_the_docs_show_the_fixture_examples() -> None:
    assert docs_examples() == EXAMPLES


def test_the_examples_validate_as_written(api: ApiClient) -> None:
    response = api.post("/api/v1/flows/validate", {"definition": stage(EXAMPLES)})
    assert response.status_code == 200, response.content
    assert response.json() == {"valid": True, "errors": [], "warnings": []}


def test_the_examples_run_end_to_end(
    api: ApiClient, tenant: Tenant, sink: SmtpSink, httpserver: HTTPServer, settings: Any
) -> None:
    # given the examples as written, the connector's URI pointing at a local, allow-listed server
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    httpserver.expect_request("/tb/export", method="POST").respond_with_json({"ok": True})
    tasks = copy.deepcopy(EXAMPLES)
    tasks[2]["payload"]["uri"] = httpserver.url_for("/tb/export")
    customer = {"name": "Ann & Co", "email": "ann@example.com", "phone": "+41 79 000 00 00",
                "message": "Size 7 <b>&</b> 8"}  # fmt: skip
    assets = [
        {"name": "print.zip", "contentBase64": "UEsFBg=="},
        {"name": "notes.txt", "contentBase64": "bm90ZXM="},
    ]
    # when an order runs them
    order = start(
        api,
        tenant,
        stage(tasks),
        customerInfo=customer,
        products=[{"name": "Ring", "assets": assets}],
    )
    # then the order e-mail went to the singular recipient's list, with a faithful text part
    mails = received(sink)
    assert sorted(mails) == ["New order", "Your files"]
    new_order = mails["New order"]
    assert new_order["To"] == "test-order@shop.example"
    assert part(new_order, "plain") == (
        "Someone ordered a product.\n\n"
        f"Order url: {order_url(order)}\n\n"
        "Customer: Ann & Co\nEmail: ann@example.com\nPhone: +41 79 000 00 00\n"
        "Message: Size 7 <b>&</b> 8"
    )
    # and the files e-mail links the zip only, to both recipients
    files = mails["Your files"]
    assert files["To"] == "ann@example.com, test@shop.example"
    [link] = re.findall(r'<a href="([^"]+)">print.zip</a>', part(files, "html"))
    download = link.replace("&amp;", "&")
    assert part(files, "plain") == (
        f"Dear customer,\n\nYour assets:\n\n  * print.zip ({download})\n\n\nBest regards"
    )
    # and the connector was called once the files were sent; its feedback ends the flow
    assert run(order, "task-key-2").state == "succeeded"
    [(request, _)] = httpserver.log
    feedback_url = json.loads(request.get_data())["feedbackUrl"]
    answer = ApiClient(None).post(urlsplit(feedback_url).path, {"status": "success"})
    assert answer.status_code == 202, answer.content
    run_engine(order)
    assert Order.objects.get(pk=order.pk).status == "success"
