"""Secret keys in a real browser: create one, use it, revoke it."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from fabflow.accounts.models import SecretKey
from tests.browser.conftest import Shop
from tests.factories import ApiClient

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_create_use_and_revoke_a_key(app: Page, live_server: Any, shop: Shop) -> None:
    # given the keys page
    app.goto(f"{live_server.url}/keys")
    # when a key is created for the space
    app.select_option("select[name=space]", label="acme-rings")
    app.fill("input[name=name]", "web shop")
    with app.expect_navigation():
        app.click("button:has-text('Create')")
    # then the full key is shown once, and it works against the API
    secret = app.locator("#new-key").inner_text().strip()
    prefix = "_".join(secret.split("_")[:2])
    key = SecretKey.objects.get(prefix=prefix)
    assert (key.name, key.space, key.created_by) == ("web shop", shop.space, shop.admin)
    assert ApiClient(secret).get("/api/v1/orders").status_code == 200
    row = app.locator(f"#keys tr[data-prefix='{prefix}']")
    expect(row).to_contain_text("web shop")
    expect(row.locator(".badge")).to_have_text("active")
    app.goto(f"{live_server.url}/keys")
    expect(app.locator("#new-key")).to_have_count(0)
    expect(app.locator("body")).not_to_contain_text(secret)
    # when it is revoked, which asks first
    with app.expect_navigation():
        row.locator("a:has-text('Revoke')").click()
    expect(app.locator("#question")).to_contain_text(f"Revoke key {prefix}")
    assert ApiClient(secret).get("/api/v1/orders").status_code == 200
    with app.expect_navigation():
        app.click("button:has-text('Revoke')")
    # then its row says so, the other key stays active, and the API refuses it
    expect(row.locator(".badge")).to_have_text("revoked")
    expect(row.locator("a:has-text('Revoke')")).to_have_count(0)
    other = app.locator("#keys tr[data-prefix]").filter(has_not_text="web shop")
    expect(other.locator(".badge")).to_have_text("active")
    assert ApiClient(secret).get("/api/v1/orders").status_code == 401
    assert ApiClient(shop.secret).get("/api/v1/orders").status_code == 200
