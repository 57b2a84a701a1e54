"""Browser fixtures: one headless Debian chromium per session, a fresh context per test, and
an organization with an admin who logs in through the real login form."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from fabflow.accounts.models import Organization, Space, User
from fabflow.accounts.services import (
    create_organization,
    create_secret_key,
    create_space,
    create_user,
)
from fabflow.orders.models import Order
from tests.factories import ApiClient, order_body

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).parent / "artifacts"
EMAIL = "ada@acme.test"
PASSWORD = "correct-horse-7431"
TIMEOUT_MS = 15_000  # generous: the suite also runs on busy machines
FAILED = pytest.StashKey[bool]()

expect.set_options(timeout=TIMEOUT_MS)


@dataclass
class Shop:
    org: Organization
    space: Space
    admin: User
    secret: str

    def order(self, tpo: str, **overrides: Any) -> Order:
        """An order created through the real API: one product worth `value` unless given."""
        value = overrides.pop("value", "10.00")
        overrides.setdefault(
            "products", [{"name": f"Ring {tpo}", "units": 1, "value": value, "parts": []}]
        )
        response = ApiClient(self.secret).post("/api/v1/orders", order_body(tpo, **overrides))
        assert response.status_code == 201, response.content
        return Order.objects.get(pk=response.json()["id"])


@pytest.fixture(scope="session", autouse=True)
def _allow_orm_beside_playwright() -> Iterator[None]:
    """Playwright's sync API runs an asyncio loop in this thread; Django refuses ORM calls from
    a thread with a running loop unless told it is safe (it is: the loop is Playwright's).
    Set for the browser tests only, so the other tests keep Django's check."""
    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if before is None:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before


@pytest.fixture(scope="session")
def browser(_allow_orm_beside_playwright: None) -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def viewport() -> dict[str, int]:
    return {"width": 1366, "height": 900}


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call" and report.failed:
        item.stash[FAILED] = True
    return report


@pytest.fixture
def page(
    browser: Browser, viewport: dict[str, int], request: pytest.FixtureRequest
) -> Iterator[Page]:
    context = browser.new_context(viewport=viewport, accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    yield page
    if request.node.stash.get(FAILED, False):  # keep what the browser showed, to debug
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"failed-{request.node.name}.png"), full_page=True)
        print(f"failed on {page.url}; screenshot in {ARTIFACTS}")
    context.close()


@pytest.fixture
def shop(transactional_db: None) -> Shop:
    org = create_organization(name="Acme")
    space = create_space(organization=org, key="acme-rings", name="Acme rings")
    _key, secret = create_secret_key(space=space, name="shop")
    admin = create_user(organization=org, email=EMAIL, password=PASSWORD, admin=True, tags=["vip"])
    return Shop(org, space, admin, secret)


def log_in(page: Page, base_url: str, password: str = PASSWORD) -> None:
    page.goto(f"{base_url}/login")
    page.fill("#id_username", EMAIL)
    page.fill("#id_password", password)
    with page.expect_navigation():
        page.click("button[type=submit]:has-text('Log in')")


@pytest.fixture
def app(page: Page, live_server: Any, shop: Shop) -> Page:
    """A page logged in as the shop's admin, on /orders."""
    log_in(page, live_server.url)
    assert page.url == f"{live_server.url}/orders"
    return page
