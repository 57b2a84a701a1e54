"""Connections in a real browser: the credential inputs follow the kind, the test answers
beside its button, and the credentials never come back to the page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from fabflow.connectors import testing
from fabflow.connectors.models import Connection
from fabflow.connectors.testing import TestResult, register_tester
from tests.browser.conftest import Shop

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

API_CODE = "api-code-PLAINTEXT-5e6f"


@pytest.fixture
def tester() -> Iterator[None]:
    saved = dict(testing._TESTERS)
    register_tester(
        "materialise", lambda c: TestResult(True, 200, f"tool {c.credentials['toolId']} found")
    )
    yield
    testing._TESTERS.clear()
    testing._TESTERS.update(saved)


def test_add_and_test_a_connection(app: Page, live_server: Any, shop: Shop, tester: None) -> None:
    # given the Connections page, reached from the sidebar
    app.goto(f"{live_server.url}/orders")
    with app.expect_navigation():
        app.click("nav a:has-text('Connections')")
    # when the kind changes to Materialise / then its credential inputs replace Site Flow's
    expect(app.locator("input[name=credential-secret]")).to_have_count(1)
    app.select_option("select[name=kind]", "materialise")
    expect(app.locator("input[name=credential-apiCode]")).to_have_count(1)
    expect(app.locator("input[name=credential-secret]")).to_have_count(0)
    # when the form is filled and sent
    app.fill("input[name=name]", "mat-prod")
    app.fill("input[name=base_url]", "https://mat.example.com")
    app.fill("input[name=credential-toolId]", "tool-0001")
    app.fill("input[name=credential-apiCode]", API_CODE)
    with app.expect_navigation():
        app.click("button:has-text('Add')")
    # then it is listed with its credentials masked
    row = app.locator("tr[data-connection='mat-prod']")
    expect(row).to_contain_text("••••5e6f")
    expect(app.locator("body")).not_to_contain_text(API_CODE)
    assert Connection.objects.get().credentials == {"toolId": "tool-0001", "apiCode": API_CODE}
    # when its Test button is pressed / then the answer shows beside it (credentials
    # redacted), and the page stays
    row.locator("button:has-text('Test')").click()
    expect(row.locator("[id^=test-]")).to_contain_text("ok · HTTP 200 tool •••• found")
    expect(app).to_have_url(f"{live_server.url}/connections")
