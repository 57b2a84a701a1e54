"""The orders and parts tables in a real browser: log in, filter, sort, columns, exports."""

from __future__ import annotations

import base64
import csv
import io
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from fabflow.orders.models import Order, OrderStatus, Part
from tests.browser.conftest import ARTIFACTS, PASSWORD, Shop, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROWS = "#table-orders tbody tr[data-id]"


def names(page: Page) -> list[str]:
    """The order names of the table's rows, top to bottom."""
    return [t.strip() for t in page.locator(f"{ROWS} td[data-column=order]").all_text_contents()]


def test_login_lands_on_orders_and_a_wrong_password_stays(
    page: Page, live_server: Any, shop: Shop
) -> None:
    # when the admin logs in with a wrong password
    log_in(page, live_server.url, password=PASSWORD + "-wrong")
    # then the form says so and stays on /login
    assert page.url.startswith(f"{live_server.url}/login")
    expect(page.locator(".alert-danger")).to_contain_text("Please enter a correct")
    # when they log in with the right one
    log_in(page, live_server.url)
    # then they land on the orders page, logged in
    assert page.url == f"{live_server.url}/orders"
    expect(page.locator("h1")).to_have_text("Orders")
    expect(page.locator("#sidebar")).to_contain_text(shop.admin.email)


def test_filter_by_status_and_text(app: Page, live_server: Any, shop: Shop) -> None:
    # given three orders, two of them in progress
    for tpo in ("WEB-A1", "WEB-B2", "WEB-C3"):
        shop.order(tpo)
    Order.objects.filter(name__in=["WEB-A1", "WEB-B2"]).update(status=OrderStatus.IN_PROGRESS)
    app.reload()
    assert sorted(names(app)) == ["WEB-A1", "WEB-B2", "WEB-C3"]
    # when the status filter is set (it submits itself)
    with app.expect_navigation():
        app.select_option("select#status", "in_progress")
    # then only the orders in progress are listed
    assert "status=in_progress" in app.url
    assert sorted(names(app)) == ["WEB-A1", "WEB-B2"]
    # when a text search is added
    app.fill("#q", "b2")
    with app.expect_navigation():
        app.click("button:has-text('Apply')")
    # then both filters apply
    assert "q=b2" in app.url and "status=in_progress" in app.url
    assert names(app) == ["WEB-B2"]


def test_sort_by_value_both_ways(app: Page, live_server: Any, shop: Shop) -> None:
    # given orders of different values
    for tpo, value in (("MID", "20.00"), ("HIGH", "30.00"), ("LOW", "10.00")):
        shop.order(tpo, value=value)
    app.reload()
    title = app.locator("#table-orders th[data-column=value] a")
    # when the Value column title is clicked: ascending
    with app.expect_navigation():
        title.click()
    assert "ordering=value" in app.url
    assert names(app) == ["LOW", "MID", "HIGH"]
    expect(title).to_have_text("Value (€) ▲")
    # and clicked again: descending
    with app.expect_navigation():
        title.click()
    assert "ordering=-value" in app.url
    assert names(app) == ["HIGH", "MID", "LOW"]
    expect(title).to_have_text("Value (€) ▼")


def test_toggle_columns_is_remembered(app: Page, live_server: Any, shop: Shop) -> None:
    shop.order("WEB-1")
    app.reload()
    deadline = app.locator("#table-orders th[data-column=deadline]")
    order_id = app.locator("#table-orders th[data-column=order_id]")
    expect(deadline).to_have_count(1)
    expect(order_id).to_have_count(0)
    # when Deadline is unchecked in the Columns menu
    app.click("button:has-text('Columns')")
    with app.expect_navigation():
        app.uncheck("#col-deadline")
    # then the page comes back without it, also after a reload
    assert app.url == f"{live_server.url}/orders"
    expect(deadline).to_have_count(0)
    expect(app.locator(f"{ROWS} td[data-column=deadline]")).to_have_count(0)
    app.reload()
    expect(deadline).to_have_count(0)
    # when Order ID is checked
    app.click("button:has-text('Columns')")
    with app.expect_navigation():
        app.check("#col-order_id")
    # then the id column shows, with the order's id
    expect(order_id).to_have_count(1)
    expect(deadline).to_have_count(0)
    order = Order.objects.get()
    expect(app.locator(f"{ROWS} td[data-column=order_id]")).to_have_text(str(order.id))


def test_export_selected_orders_as_csv(app: Page, live_server: Any, shop: Shop) -> None:
    # given three orders, one named like a spreadsheet formula
    formula = '=HYPERLINK("x")'
    shop.order("WEB-F", name=formula, value="12.50")
    shop.order("WEB-N", value="7.00")
    shop.order("WEB-X")
    app.reload()
    export = app.locator("button:has-text('Export selected orders (CSV)')")
    expect(export).to_be_disabled()
    # when two rows are ticked and exported
    for order in Order.objects.filter(third_party_order_id__in=["WEB-F", "WEB-N"]):
        app.check(f"{ROWS}[data-id='{order.id}'] input[name=ids]")
    expect(app.locator("[data-selection-count]")).to_have_text("2 selected")
    with app.expect_download() as info:
        export.click()
    download = info.value
    assert download.suggested_filename == "orders.csv"
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text("utf-8"))))
    # then the header is exactly the visible column titles (not the Start button's), and the
    # two rows follow
    headers = app.locator("#table-orders thead th[data-column]").all_text_contents()
    titles = [t.strip().removesuffix(" ▼").removesuffix(" ▲") for t in headers]
    assert titles == ["Order", "Status", "Value (€)", "Created at", "Deadline", "Start flow"]
    assert rows[0] == titles[:-1]
    assert len(rows) == 3
    by_value = {r[2]: r for r in rows[1:]}
    assert set(by_value) == {"12.50", "7.00"}
    # and the formula is neutralised
    assert by_value["12.50"][0] == "'" + formula
    assert by_value["12.50"][1] == "Created"
    assert by_value["7.00"][0] == "WEB-N"


def _part(name: str, files: dict[str, bytes], **extra: Any) -> dict[str, Any]:
    assets = [
        {"name": n, "contentBase64": base64.b64encode(data).decode()} for n, data in files.items()
    ]
    return {"name": name, "assets": assets, **extra}


def test_export_parts_with_assets_as_zip(app: Page, live_server: Any, shop: Shop) -> None:
    # given an order whose parts carry inline files and manufacturing data
    product = {
        "name": "Ring",
        "parts": [
            _part("band", {"band.stl": b"solid band"}, manufacturingData={"printTimeS": 60}),
            _part("stone", {"stone.stl": b"solid stone", "../evil.txt": b"x"}),
            _part("clasp", {"clasp.stl": b"solid clasp"}),
        ],
    }
    shop.order("WEB-P", products=[product])
    parts = {p.name: p for p in Part.objects.all()}
    app.goto(f"{live_server.url}/parts")
    # when two parts are ticked and exported with assets
    for name in ("band", "stone"):
        app.check(f"#table-parts tbody tr[data-id='{parts[name].id}'] input[name=ids]")
    with app.expect_download() as info:
        app.click("button:has-text('Export selected parts with files (zip)')")
    download = info.value
    assert download.suggested_filename == "parts.zip"
    # then the zip holds the CSVs and the two parts' files, each in its part's folder
    with zipfile.ZipFile(download.path()) as archive:
        entries = archive.namelist()
        band = f"files/band ({str(parts['band'].id)[:8]})"
        stone = f"files/stone ({str(parts['stone'].id)[:8]})"
        assert sorted(entries) == sorted(
            [
                "csv/parts.csv",
                "csv/manufacturing-data.csv",
                f"{band}/band.stl",
                f"{stone}/stone.stl",
                f"{stone}/evil.txt",
            ]
        )
        assert all(not e.startswith("/") and ".." not in e.split("/") for e in entries)
        assert archive.read(f"{band}/band.stl") == b"solid band"
        assert archive.read(f"{stone}/stone.stl") == b"solid stone"
        part_rows = list(csv.reader(io.StringIO(archive.read("csv/parts.csv").decode())))
        manufacturing = list(
            csv.reader(io.StringIO(archive.read("csv/manufacturing-data.csv").decode()))
        )
    assert part_rows[0] == ["Part", "Product", "Order", "Created at"]
    assert sorted(r[0] for r in part_rows[1:]) == ["band", "stone"]
    assert manufacturing[0] == ["Part ID", "Part", "Product", "Order", "printTimeS"]
    assert sorted(r[1:] for r in manufacturing[1:]) == [
        ["band", "Ring", "WEB-P", "60"],
        ["stone", "Ring", "WEB-P", ""],
    ]


@pytest.fixture
def viewport_375() -> dict[str, int]:
    return {"width": 375, "height": 812}


@pytest.mark.parametrize("viewport", [{"width": 375, "height": 812}])
def test_orders_page_on_a_phone(app: Page, live_server: Any, shop: Shop) -> None:
    # given a few orders, one with a long name
    for tpo in ("WEB-1", "WEB-2"):
        shop.order(tpo)
    shop.order("WEB-3", name="A-very-long-order-name-without-any-spaces-at-all-0123456789")
    app.reload()
    expect(app.locator(ROWS)).to_have_count(3)
    # then nothing overflows the 375 px wide document
    assert app.evaluate("document.documentElement.scrollWidth") <= 375
    sidebar = app.locator("#sidebar")
    link = sidebar.get_by_role("link", name="Secret keys")
    expect(link).not_to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    app.screenshot(path=str(ARTIFACTS / "orders-375.png"), full_page=True)
    # when the menu button is pressed
    app.click("button[aria-label=Menu]")
    # then the sidebar slides in with its links
    expect(sidebar).to_have_class(re.compile(r"(^|\s)show(\s|$)"))
    for name in ("Orders", "Products", "Parts", "Order flows", "Users", "Secret keys"):
        expect(sidebar.get_by_role("link", name=name, exact=True)).to_be_visible()
    app.wait_for_timeout(400)  # the slide-in animation, for the screenshot only
    app.screenshot(path=str(ARTIFACTS / "orders-375-menu.png"))
    assert app.evaluate("document.documentElement.scrollWidth") <= 375


def test_start_a_flow_from_the_orders_table(app: Page, live_server: Any, shop: Shop) -> None:
    # given a flow of the space and an order in Created
    from fabflow.flows.models import FlowRun
    from fabflow.flows.services import create_flow

    manual = {"key": "check", "handlerKey": "manual-task", "payload": {"title": "Check"}}
    definition = [{"key": "s", "name": "Confirm", "taskDefinitions": [manual]}]
    create_flow(space=shop.space, name="table-flow", definition=definition)
    order = shop.order("WEB-S")
    app.reload()
    # when the row's Start menu is opened and the flow chosen
    row = app.locator(f"{ROWS}[data-id='{order.id}']")
    row.locator("td[data-column=start] button:has-text('Start')").click()
    with app.expect_navigation():
        row.locator("button.dropdown-item:has-text('table-flow')").click()
    # then the order's page opens and its flow has started
    assert app.url == f"{live_server.url}/orders/{order.id}"
    expect(app.locator(".alert-success")).to_have_text("The flow has started.")
    assert FlowRun.objects.get(order=order).flow_version.flow.name == "table-flow"
