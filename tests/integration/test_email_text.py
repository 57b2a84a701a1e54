"""The plain-text part of flow e-mails: line breaks, links and entities as a reader needs them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from fabflow.orders.serializers import order_url
from tests.factories import ApiClient, Tenant
from tests.integration.test_doc_examples import part, received, serve_mail
from tests.integration.test_engine import flow, start
from tests.support.servers import SmtpSink

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sink(settings: Any) -> Iterator[SmtpSink]:
    server = serve_mail(settings)
    yield server
    server.stop()


def test_the_text_part_keeps_breaks_and_links_and_decodes_entities(
    api: ApiClient, tenant: Tenant, sink: SmtpSink
) -> None:
    # given an HTML body with paragraphs, line breaks, a link, a list and entities
    body = (
        "<p>Dear {customerInfo.name},<br>we received your order &amp; its files.</p>"
        '<p>See <a href="{orderUrl}">your order</a> &ndash; or reply.</p>'
        "<ul><li>Ring</li><li>Band</li></ul>"
        "Thanks,<br>The shop"
    )
    mail = {"recipients": ["{customerEmail}"], "subject": "Thanks", "body": body}
    # when a send-email task sends it
    order = start(
        api, tenant, flow({"key": "mail", "handlerKey": "send-email", "payload": mail}),
        customerInfo={"name": "Ann <Lee>", "email": "ann@example.com"},
    )  # fmt: skip
    # then the text part reads as the HTML does
    assert part(received(sink)["Thanks"], "plain") == (
        "Dear Ann <Lee>,\nwe received your order & its files.\n\n"
        f"See your order ({order_url(order)}) \u2013 or reply.\n\n"
        "  * Ring\n  * Band\n"
        "Thanks,\nThe shop"
    )
