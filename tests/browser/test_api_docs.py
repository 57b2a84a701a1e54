"""The API documentation works in a real browser with no internet access."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_swagger_ui_renders_from_local_assets_only(page: Page, live_server: Any) -> None:
    # given a browser that records every host it contacts
    hosts: set[str] = set()
    page.on("request", lambda request: hosts.add(urlsplit(request.url).hostname or ""))
    # when the API documentation is opened
    page.goto(f"{live_server.url}/api/docs")
    # then Swagger UI draws the operations from /api/openapi.json, served by the app itself
    expect(page.locator(".information-container .title")).to_contain_text("Fabflow API")
    expect(page.locator(".opblock-summary-path", has_text="/api/v1/orders").first).to_be_visible()
    assert hosts == {urlsplit(live_server.url).hostname}
