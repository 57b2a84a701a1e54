"""The web app through Django's test client: access, scoping, CSRF, escaping, tables, exports."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import set_script_prefix
from django.utils import timezone

from fabflow.accounts.models import SecretKey, User
from fabflow.accounts.services import create_user, save_hidden_columns
from fabflow.flows.models import Flow
from fabflow.flows.services import create_flow
from fabflow.orders.models import Order, Part, Product
from tests.factories import ApiClient, Tenant, order_body

XSS = "<img src=x onerror=alert(1)>"
PAGES = ["/orders", "/products", "/parts", "/flows"]


@pytest.fixture
def admin(tenant: Tenant) -> User:
    return create_user(
        organization=tenant.org,
        email="boss@acme.test",
        password="x-pass-1234",
        admin=True,
        tags=["vip"],
    )


@pytest.fixture
def browser(admin: User) -> Client:
    client = Client()
    client.force_login(admin)
    return client


@pytest.fixture
def order(api: ApiClient) -> dict[str, Any]:
    products = [
        {
            "name": "Ring",
            "assets": [{"name": "preview.png", "contentBase64": "iVBORw=="}],
            "parts": [
                {
                    "name": "band",
                    "manufacturingData": {"printTimeS": 61},
                    "assets": [{"name": "band.stl", "contentBase64": "c29saWQ="}],
                }
            ],
        }
    ]
    return api.post("/api/v1/orders", order_body("WEB-1", products=products)).json()


def rows(response: Any) -> list[str]:
    html = response.content.decode()
    return [chunk.split('"', 1)[0] for chunk in html.split('data-id="')[1:]]


@pytest.mark.parametrize("path", [*PAGES, "/users", "/keys", "/password"])
def test_pages_need_a_login(db: None, path: str) -> None:
    response = Client().get(path)
    assert response.status_code == 302
    assert response["Location"].startswith(f"/login?next={path}")


@pytest.mark.parametrize("path", ["/users", "/keys"])
def test_admin_pages_are_403_for_members(member: User, path: str) -> None:
    client = Client()
    client.force_login(member)
    assert client.get(path).status_code == 403


def test_every_page_renders_for_an_admin(browser: Client, order: dict[str, Any]) -> None:
    product = order["products"][0]
    paths = [
        *PAGES,
        "/users",
        "/keys",
        f"/orders/{order['id']}",
        f"/products/{product['id']}",
        f"/parts/{product['parts'][0]['id']}",
    ]
    for path in paths:
        response = browser.get(path)
        assert response.status_code == 200, path
        assert "Content-Security-Policy" in response


def test_objects_of_another_organization_are_404(browser: Client, other_tenant: Tenant) -> None:
    other = ApiClient(other_tenant.secret).post("/api/v1/orders", order_body("GLOBEX-1")).json()
    product = other["products"][0]
    flow = create_flow(
        space=other_tenant.space,
        name="globex-flow",
        definition=[
            {
                "key": "s",
                "name": "S",
                "taskDefinitions": [
                    {"key": "t", "handlerKey": "manual-task", "payload": {"title": "x"}}
                ],
            }
        ],
    )
    for path in [
        f"/orders/{other['id']}",
        f"/products/{product['id']}",
        f"/parts/{product['parts'][0]['id']}",
        f"/flows/{flow.id}",
        f"/orders/{other['id']}/files.zip",
    ]:
        assert browser.get(path).status_code == 404, path
    for path in PAGES:
        assert "GLOBEX-1" not in browser.get(path).content.decode()
        assert "globex-flow" not in browser.get(path).content.decode()


def test_a_name_with_html_is_escaped_everywhere(browser: Client, api: ApiClient) -> None:
    body = order_body("XSS-1", name=XSS, products=[{"name": XSS, "parts": [{"name": XSS}]}])
    created = api.post("/api/v1/orders", body).json()
    product = created["products"][0]
    for path in [
        *PAGES,
        f"/orders/{created['id']}",
        f"/products/{product['id']}",
        f"/parts/{product['parts'][0]['id']}",
    ]:
        html = browser.get(path).content.decode()
        assert XSS not in html, path
    assert "&lt;img src=x onerror=alert(1)&gt;" in browser.get("/orders").content.decode()


@pytest.mark.parametrize("prefix", ["", "/fabflow"])
def test_table_links_lead_to_each_row_s_pages(
    browser: Client, order: dict[str, Any], prefix: str
) -> None:
    product = order["products"][0]
    part = product["parts"][0]
    set_script_prefix(f"{prefix}/")  # what the WSGI handler does with SCRIPT_NAME
    try:
        html = browser.get("/parts").content.decode()
    finally:
        set_script_prefix("/")
    for href in [
        f"{prefix}/parts/{part['id']}",
        f"{prefix}/products/{product['id']}",
        f"{prefix}/orders/{order['id']}",
    ]:
        assert f'href="{href}"' in html


@pytest.mark.parametrize(
    ("path", "documents"),
    [
        ("/orders", ["customer_info", "addresses", '"data"']),
        ("/products", ["configuration", "customer_info", "addresses"]),
        ("/parts", ['"data"', "manufacturing_data", "configuration", "customer_info"]),
    ],
)
def test_table_pages_read_only_their_columns(
    browser: Client, order: dict[str, Any], path: str, documents: list[str]
) -> None:
    # given an order with a product and a part (JSON documents on each row)
    # when a table page is shown
    with CaptureQueriesContext(connection) as queries:
        response = browser.get(path)
    # then it lists the row, and no query read a JSON document of the rows or joined rows
    assert response.status_code == 200
    assert order["id"] in response.content.decode()
    rows_sql = [q["sql"] for q in queries.captured_queries if '"orders_' in q["sql"]]
    assert rows_sql
    for sql in rows_sql:
        for column in documents:
            assert column not in sql, (column, sql)


def test_forms_enforce_csrf(admin: User, order: dict[str, Any]) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    assert client.post("/keys", {"space": "x", "name": "n"}).status_code == 403
    assert client.post("/export/orders.csv", {"ids": [order["id"]]}).status_code == 403
    assert client.post(f"/orders/{order['id']}/restart").status_code == 403


def test_filters_search_and_sort(browser: Client, api: ApiClient) -> None:
    a = api.post("/api/v1/orders", order_body("A-1", products=[{"name": "r", "value": 5}])).json()
    b = api.post("/api/v1/orders", order_body("B-2", products=[{"name": "r", "value": 9}])).json()
    Order.objects.filter(pk=b["id"]).update(status="failure")
    assert rows(browser.get("/orders", {"status": "failure"})) == [b["id"]]
    assert rows(browser.get("/orders", {"q": "a-1"})) == [a["id"]]
    assert rows(browser.get("/orders", {"ordering": "value"})) == [a["id"], b["id"]]
    assert rows(browser.get("/orders", {"ordering": "-value"})) == [b["id"], a["id"]]
    bad = browser.get("/orders", {"createdAfter": "soon", "ordering": "nonsense"})
    assert bad.status_code == 200
    assert "Ignored invalid filter: createdAfter" in bad.content.decode()


def test_orders_matching_my_tags_are_highlighted(browser: Client, api: ApiClient) -> None:
    api.post("/api/v1/orders", order_body("VIP-1", tags=["VIP"]))
    api.post("/api/v1/orders", order_body("PLAIN-1", tags=[]))
    html = browser.get("/orders").content.decode()
    assert html.count('class="tag-match"') == 1
    assert html.index('class="tag-match"') < html.index("VIP-1")


def test_column_toggles_are_remembered_per_user(browser: Client, admin: User, member: User) -> None:
    response = browser.post(
        "/tables/orders/columns", {"visible": ["order", "status", "order_id"], "next": "/orders"}
    )
    assert response.status_code == 302
    html = browser.get("/orders").content.decode()
    assert 'data-column="order_id"' in html
    assert 'th scope="col" class="date" data-column="deadline"' not in html
    other = Client()
    other.force_login(member)
    assert 'data-column="deadline"' in other.get("/orders").content.decode()


def test_export_selected_is_csv_of_the_visible_columns(browser: Client, api: ApiClient) -> None:
    formula = api.post("/api/v1/orders", order_body("F-1", name='=HYPERLINK("x")')).json()
    plain = api.post("/api/v1/orders", order_body("P-1")).json()
    response = browser.post("/export/orders.csv", {"ids": [formula["id"], plain["id"]]})
    assert response.status_code == 200
    table = list(csv.reader(io.StringIO(response.content.decode())))
    assert table[0] == ["Order", "Status", "Value (€)", "Created at", "Deadline"]
    assert [r[0] for r in table[1:]] == ['\'=HYPERLINK("x")', "P-1"]
    assert table[1][2] == "198.00"


def test_export_is_limited_to_50_rows(browser: Client) -> None:
    ids = [f"00000000-0000-0000-0000-{i:012d}" for i in range(51)]
    assert browser.post("/export/orders.csv", {"ids": ids}).status_code == 400
    assert browser.post("/export/orders.csv", {"ids": ["nope"]}).status_code == 400
    assert browser.post("/export/orders.csv", {}).status_code == 400


def test_parts_export_with_assets_is_a_zip_with_csv_folder(
    browser: Client, order: dict[str, Any]
) -> None:
    part_id = order["products"][0]["parts"][0]["id"]
    response = browser.post("/export/parts.zip", {"ids": [part_id]})
    assert response.status_code == 200
    assert response.streaming
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    names = archive.namelist()
    assert names[:2] == ["csv/parts.csv", "csv/manufacturing-data.csv"]
    assert (
        len(names) == 3 and names[2].startswith("files/band (") and names[2].endswith("/band.stl")
    )
    assert archive.read(names[2]) == b"solid"
    manufacturing = list(csv.reader(io.StringIO(archive.read(names[1]).decode())))
    assert manufacturing[0] == ["Part ID", "Part", "Product", "Order", "printTimeS"]
    assert manufacturing[1][4] == "61"


def test_zip_entry_names_are_sanitized(browser: Client, api: ApiClient) -> None:
    evil = ["../../etc/passwd", "/abs/path.txt", "bad\x07name.txt"]
    products = [{"name": "../up", "assets": [{"name": n, "contentBase64": "YQ=="} for n in evil]}]
    created = api.post("/api/v1/orders", order_body("Z-1", products=products)).json()
    response = browser.post("/export/products.zip", {"ids": [created["products"][0]["id"]]})
    names = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).namelist()
    assert names[0] == "products.csv"
    for name in names:
        assert not name.startswith("/") and ".." not in name.split("/")
        assert all(ord(ch) >= 32 for ch in name)
    assert len(names) == 4


def test_order_files_zip(browser: Client, order: dict[str, Any]) -> None:
    response = browser.get(f"/orders/{order['id']}/files.zip")
    names = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).namelist()
    assert sorted(names) == ["Ring/band.stl", "Ring/preview.png"]


def test_login_rotates_the_session_and_locks_out_after_failures(admin: User, settings: Any) -> None:
    client = Client()
    client.get("/login")
    before = client.cookies.get("sessionid")
    response = client.post("/login", {"username": "boss@acme.test", "password": "x-pass-1234"})
    assert response.status_code == 302 and response["Location"] == "/orders"
    assert client.cookies["sessionid"].value != (before.value if before else None)
    attacker = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attacker.post("/login", {"username": "boss@acme.test", "password": "wrong"})
    locked = attacker.post("/login", {"username": "boss@acme.test", "password": "x-pass-1234"})
    assert locked.status_code == 429
    assert b"Too many failed attempts" in locked.content


def test_keys_page_creates_once_and_revokes(browser: Client, tenant: Tenant) -> None:
    response = browser.post("/keys", {"space": str(tenant.space.pk), "name": "shop"})
    assert response.status_code == 302
    html = browser.get("/keys").content.decode()
    secret = html.split('id="new-key">', 1)[1].split("<", 1)[0]
    assert ApiClient(secret).get("/api/v1/orders").status_code == 200
    assert secret not in browser.get("/keys").content.decode()
    key = SecretKey.objects.get(name="shop")
    assert browser.post(f"/keys/{key.id}/revoke").status_code == 302
    assert ApiClient(secret).get("/api/v1/orders").status_code == 401


def test_users_page_invites_edits_tags_and_deactivates(browser: Client, admin: User) -> None:
    response = browser.post(
        "/users",
        {
            "invite-email": "New@Acme.test",
            "invite-role": "member",
            "invite-tags": "rush, vip, rush",
        },
    )
    assert response.status_code == 302
    person = User.objects.get(email="new@acme.test")
    assert person.tags == ["rush", "vip"] and person.organization == admin.organization
    browser.post(f"/users/{person.id}", {"role": "admin", "tags": " gift ,, "})
    person.refresh_from_db()
    assert (person.role, person.tags) == ("admin", ["gift"])
    browser.post(f"/users/{person.id}/active", {"active": "0"})
    person.refresh_from_db()
    assert person.is_active is False
    browser.post(f"/users/{admin.id}/active", {"active": "0"})
    admin.refresh_from_db()
    assert admin.is_active is True


def test_flow_create_dialog_and_editor_versions(browser: Client, tenant: Tenant) -> None:
    assert browser.post("/flows", {"name": "abc", "space": "acme-rings"}).status_code == 302
    assert not Flow.objects.exists()
    response = browser.post("/flows", {"name": "rings-flow", "space": "acme-rings"})
    flow = Flow.objects.get()
    assert response["Location"] == f"/flows/{flow.id}"
    bad = [
        {
            "key": "s",
            "name": "S",
            "taskDefinitions": [{"key": "t", "handlerKey": "no-such-handler", "payload": {}}],
        }
    ]
    response = browser.post(f"/flows/{flow.id}", {"definition": json.dumps(bad)})
    assert response.status_code == 422
    assert "[0].taskDefinitions[0].handlerKey" in response.content.decode()
    good = [
        {
            "key": "s",
            "name": "S",
            "taskDefinitions": [{"key": "t", "handlerKey": "wait", "payload": {"durationMs": 0}}],
        }
    ]
    assert browser.post(f"/flows/{flow.id}", {"definition": json.dumps(good)}).status_code == 302
    flow.refresh_from_db()
    assert flow.current_version == 2


def test_flow_preview_returns_errors_with_paths_and_a_graph(browser: Client) -> None:
    response = browser.post(
        "/flows/preview",
        data='[{"key": "s", "name": "S", "taskDefinitions":'
        ' [{"key": "t", "handlerKey": "wait", "payload": {}}]}]',
        content_type="application/json",
    )
    body = response.json()
    assert body["valid"] is False
    assert body["errors"][0]["path"].startswith("[0].taskDefinitions[0].payload")
    assert body["graph"].splitlines()[0] == "flowchart TB"
    assert body["summary"] == "Flow with 1 stage: S (1 task)"
    assert (
        browser.post("/flows/preview", data="{oops", content_type="application/json").json()[
            "valid"
        ]
        is False
    )


def test_product_and_part_pages_show_configuration_and_manufacturing_data(
    browser: Client, order: dict[str, Any]
) -> None:
    Product.objects.filter(pk=order["products"][0]["id"]).update(configuration={"size": 17})
    html = browser.get(f"/products/{order['products'][0]['id']}").content.decode()
    assert "<td>size</td><td>17</td>" in html
    part = Part.objects.get(pk=order["products"][0]["parts"][0]["id"])
    assert "printTimeS" in browser.get(f"/parts/{part.id}").content.decode()


def test_a_table_page_reads_session_user_organization_preferences_and_its_page(
    browser: Client, admin: User, order: dict[str, Any]
) -> None:
    # given an order, and a user who has hidden a column of the orders table
    save_hidden_columns(user=admin, table="orders", hidden=["status", "step", "customer"])
    # when the orders page is shown
    with CaptureQueriesContext(connection) as queries:
        response = browser.get("/orders")
    # then it reads the session, its user, their organization and table preferences, the
    # page's ids and rows in one statement, and the flows its order in Created can start
    html = response.content.decode()
    assert order["id"] in html and 'data-column="status"' not in html
    sql = [q["sql"] for q in queries.captured_queries]
    tables = [s.split(" FROM ", 1)[1].split()[0] for s in sql]
    assert tables == [
        '"django_session"',
        '"accounts_user"',
        '"accounts_organization"',
        '"accounts_tablepreference"',
        '"orders_order"',
        '"flows_flow"',
    ]
    assert '"orders_order"."id" IN (SELECT' in sql[-2]


def test_saved_columns_drop_unknown_keys_and_other_tables_keep_their_defaults(
    browser: Client, admin: User
) -> None:
    # given preferences for the orders table, one of them a column that no longer exists
    save_hidden_columns(user=admin, table="orders", hidden=["deadline", "gone"], shown=["order_id"])
    # when the orders and products pages are shown
    orders = browser.get("/orders").content.decode()
    products = browser.get("/products").content.decode()
    # then the orders table hides and shows what was saved, products hides its ids by default
    assert 'data-column="deadline"' not in orders.split("<thead>", 1)[1]
    assert 'th scope="col" class="id" data-column="order_id"' in orders
    assert 'data-column="product_id"' not in products.split("<thead>", 1)[1]
    assert 'th scope="col" class="text" data-column="product"' in products


@pytest.mark.parametrize("revoke", ["log out", "expire", "deactivate", "change the password"])
def test_a_session_stops_at_once_when_it_is_revoked(
    browser: Client, admin: User, revoke: str
) -> None:
    # given a logged-in browser
    assert browser.get("/orders").status_code == 200
    # when the session is ended, the user deactivated, or the password changed elsewhere
    if revoke == "log out":
        browser.post("/logout")
    elif revoke == "expire":
        Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    elif revoke == "deactivate":
        User.objects.filter(pk=admin.pk).update(is_active=False)
    else:
        admin.set_password("another-pass-5678")
        admin.save()
    # then the next page asks for a login: the session and user are read on every request
    response = browser.get("/orders")
    assert response.status_code == 302 and response["Location"].startswith("/login")


def test_sort_links_keep_the_filters_start_at_the_first_page_and_toggle(browser: Client) -> None:
    # given a filtered, sorted page further down the list
    html = browser.get("/orders", {"q": "<a&b>", "ordering": "value", "cursor": "x"}).content
    head = html.decode().split("<thead>", 1)[1].split("</thead>", 1)[0]
    # then each title links to the first page with the same filters, the current one toggled
    assert '<a href="?q=%3Ca%26b%3E&amp;ordering=-value">Value (€) ▲</a>' in head
    assert '<a href="?q=%3Ca%26b%3E&amp;ordering=name">Order</a>' in head
    assert "cursor" not in head and "<a&b>" not in head


def test_the_sidebar_marks_the_current_section_and_shows_administration_to_admins(
    browser: Client, member: User
) -> None:
    def nav(client: Client, path: str) -> str:
        html = client.get(path).content.decode()
        return html.split('<ul class="nav', 1)[1].split("</ul>", 1)[0]

    assert 'nav-link active" href="/orders"' in nav(browser, "/orders")
    products = nav(browser, "/products")
    assert 'nav-link active" href="/products"' in products
    assert 'nav-link active" href="/orders"' not in products
    assert 'href="/users"' in products
    other = Client()
    other.force_login(member)
    assert 'href="/users"' not in nav(other, "/products")
