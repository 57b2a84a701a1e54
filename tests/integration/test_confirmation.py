"""asset-email with needConfirmation: the single-use confirmation page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail
from django.test import Client

from fabflow.flows.models import TaskRun
from fabflow.orders.models import Order, OrderEvent
from tests.factories import ApiClient, Tenant
from tests.integration.test_engine import flow, run_engine, start

pytestmark = pytest.mark.django_db(transaction=True)

ASSET_MAIL = {
    "key": "files",
    "handlerKey": "asset-email",
    "payload": {
        "filter": r"\.zip$",
        "recipients": ["{customerEmail}"],
        "subject": "Your files",
        "needConfirmation": True,
        "body": "{assetOverview}<a href='{confirmationUrl}'>Confirm</a>",
    },
}


@pytest.fixture
def waiting(api: ApiClient, tenant: Tenant) -> tuple[Order, str]:
    products = [
        {
            "name": "Ring",
            "assets": [
                {"name": "print.zip", "contentBase64": "UEsFBg=="},
                {"name": "secret.stl", "contentBase64": "c29saWQ="},
            ],
        }
    ]
    order = start(api, tenant, flow(ASSET_MAIL), products=products)
    html = mail.outbox[0].alternatives[0][0]
    link = re.search(r"href='(http[^']+/confirm/[^']+)'", html)
    assert link is not None
    assert "print.zip" in html and "secret.stl" not in html
    return order, "/" + link.group(1).split("/", 3)[3]


def test_get_shows_the_page_without_confirming(waiting: tuple[Order, str]) -> None:
    order, path = waiting
    response = Client().get(path)
    assert response.status_code == 200
    assert b"Confirm order" in response.content
    assert TaskRun.objects.get(order=order).state == "waiting"


def test_post_confirms_once(waiting: tuple[Order, str]) -> None:
    order, path = waiting
    client = Client()
    assert client.post(path).status_code == 200
    run_engine(order)
    assert order.status == "success"
    assert TaskRun.objects.get(order=order).result == {"confirmed": True}
    assert client.post(path).status_code == 409
    assert OrderEvent.objects.filter(order=order, kind="task.confirmed").count() == 1


@pytest.mark.parametrize("token", ["garbage", "x" * 300])
def test_invalid_links_are_404(db: Any, token: str) -> None:
    assert Client().get(f"/confirm/{token}").status_code == 404
