"""Downloads in a real browser: the name chromium saves an order's zip under, and uploaded
files that would run in a page are saved, never shown."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from playwright.sync_api import Page

from fabflow.orders.models import Asset
from tests.browser.conftest import Shop

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HOSTILE = "invoice\"; filename*=UTF-8''invoice.html"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="document.title=\'ran\'"/>'


def _asset(name: str, content_type: str, data: bytes) -> dict[str, str]:
    return {
        "name": name,
        "contentType": content_type,
        "contentBase64": base64.b64encode(data).decode(),
    }


def test_an_order_name_cannot_choose_the_saved_zip_s_name(
    app: Page, live_server: Any, shop: Shop
) -> None:
    # given an order whose name tries to name the download invoice.html
    products = [
        {"name": "Ring", "units": 1, "value": "1.00", "assets": [_asset("a.stl", "", b"x")]}
    ]
    order = shop.order("H-1", name=HOSTILE, products=products)
    app.goto(f"{live_server.url}/orders/{order.id}")
    # when its files are downloaded as one zip
    with app.expect_download() as download:
        app.click("text=Download all (zip)")
    # then chromium saves it under the cleaned order name, ending in -files.zip
    assert download.value.suggested_filename == "invoice__ filename__UTF-8''invoice.html-files.zip"


@pytest.mark.parametrize(
    ("name", "content_type", "data"),
    [("logo.svg", "image/svg+xml", SVG), ("page.html", "text/html", b"<title>ran</title>")],
)
def test_an_active_upload_is_saved_not_shown(
    app: Page, live_server: Any, shop: Shop, name: str, content_type: str, data: bytes
) -> None:
    # given an order with a file that would run script if a browser showed it
    products = [
        {"name": "Ring", "units": 1, "value": "1.00", "assets": [_asset(name, content_type, data)]}
    ]
    order = shop.order("A-1", products=products)
    app.goto(f"{live_server.url}/orders/{order.id}")
    # when its link is followed / then chromium saves the file, and the page stays the order's
    with app.expect_download() as download:
        app.click(f"a:has-text('{name}')")
    assert download.value.suggested_filename == name
    assert app.url == f"{live_server.url}/orders/{order.id}"
    assert app.title() != "ran"


def test_an_uploaded_script_cannot_run_in_a_page_of_the_app(
    app: Page, live_server: Any, shop: Shop
) -> None:
    # given an uploaded script: the pages allow scripts from the app's own origin
    script = _asset("app.js", "text/javascript", b"window.ran = true;")
    order = shop.order("S-1", products=[{"name": "Ring", "units": 1, "value": "1.00",
                                         "assets": [script]}])  # fmt: skip
    asset = Asset.objects.get(order=order)
    app.goto(f"{live_server.url}/orders")
    # when a page of the app loads it as a script (what an injected tag would do)
    outcome = app.evaluate(
        """src => new Promise(done => {
            const tag = document.createElement("script");
            tag.src = src;
            tag.onload = () => done("ran");
            tag.onerror = () => done("refused");
            document.head.append(tag);
        })""",
        f"/files/{asset.id}",
    )
    # then the browser refuses it: its type is not a script's, and nosniff forbids guessing
    assert outcome == "refused"
    assert app.evaluate("window.ran === undefined")
