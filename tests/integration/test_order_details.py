"""The order, product and part pages show what production and shipping need: the customer,
addresses, tags, the order's data, the products' deadlines, files by product and part, and a
timeline with labels and one group per task run; every page is the organization's own."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
from django.test import Client

from fabflow.accounts.services import create_user
from fabflow.orders.kinds import EventKind
from fabflow.orders.models import Asset, Order, Part, Product
from tests.factories import ApiClient, Tenant, order_body
from tests.integration.test_engine import MAIL, complete, flow, manual, run_engine, start

PNG = base64.b64encode(bytes.fromhex("89504e470d0a1a0a") + b"\0" * 16).decode()
STL = base64.b64encode(b"solid x").decode()


def page(client: Client, member: Any, path: str) -> str:
    client.force_login(member)
    response = client.get(path)
    assert response.status_code == 200
    return str(response.content.decode())


def create(api: ApiClient, **body: Any) -> Order:
    response = api.post("/api/v1/orders", order_body(**body))
    assert response.status_code == 201, response.content
    return Order.objects.get(pk=response.json()["id"])


def test_the_order_page_shows_the_customer_addresses_and_tags(
    api: ApiClient, client: Client, member: Any
) -> None:
    # given an order with a full customer, two addresses and tags
    order = create(
        api,
        customerInfo={
            "name": "Ann Lee",
            "email": "ann@example.com",
            "phone": "+49 30 1234",
            "company": "Lee GmbH",
            "message": "Please gift-wrap.\nThanks",
        },
        addresses=[
            {"addressType": "shipping", "data": {"city": "Berlin", "street": "Main St 1"}},
            {"addressType": "billing", "purpose": "invoice", "data": {"city": "Hamburg"}},
        ],
        tags=["vip", "rush"],
    )
    # when a member opens its page
    html = page(client, member, f"/orders/{order.id}")
    # then the customer, each address and each tag is shown
    assert "<dt>Name</dt><dd>Ann Lee</dd>" in html
    assert "<dt>Company</dt><dd>Lee GmbH</dd>" in html
    assert "<dt>E-mail</dt><dd>ann@example.com</dd>" in html
    assert "<dt>Phone</dt><dd>+49 30 1234</dd>" in html
    assert "<dt>Message</dt><dd>Please gift-wrap.<br>Thanks</dd>" in html
    assert "Shipping</div><dl" in html
    assert "<dt>city</dt><dd>Berlin</dd><dt>street</dt><dd>Main St 1</dd>" in html
    assert 'Billing <span class="text-muted fw-normal">(invoice)</span>' in html
    assert "<dt>city</dt><dd>Hamburg</dd>" in html
    assert '<span class="tag">vip</span><span class="tag">rush</span>' in html


def test_the_order_data_is_a_tree_with_every_value_escaped(
    api: ApiClient, client: Client, member: Any
) -> None:
    # given an order whose data nests objects and arrays, with markup in keys and values
    # (keys shortest first, as PostgreSQL's jsonb keeps them)
    data = {
        "empty": {},
        "channel": "web",
        "shipping": {"boxes": [1, None, {"w": 2.5}], "carrier": "DHL", "express": True},
        "<b>key</b>": "<script>alert(1)</script>",
    }
    order = create(api, data=data)
    # when a member opens its page
    html = page(client, member, f"/orders/{order.id}")
    # then the data is nested lists, folded per object, with the markup escaped
    tree = html.split('id="data-h">Order data</div>')[1].split("</section>")[0]
    assert tree == (
        '\n      <div class="card-body small"><dl class="specs">'
        "<dt>empty</dt><dd>{}</dd>"
        "<dt>channel</dt><dd>web</dd>"
        '<dt>shipping</dt><dd><details open><summary>3 fields</summary><dl class="specs">'
        '<dt>boxes</dt><dd><details open><summary>3 items</summary><dl class="specs">'
        "<dt>0</dt><dd>1</dd><dt>1</dt><dd>null</dd>"
        '<dt>2</dt><dd><details open><summary>1 field</summary><dl class="specs">'
        "<dt>w</dt><dd>2.5</dd></dl></details></dd></dl></details></dd>"
        "<dt>carrier</dt><dd>DHL</dd><dt>express</dt><dd>true</dd></dl></details></dd>"
        "<dt>&lt;b&gt;key&lt;/b&gt;</dt><dd>&lt;script&gt;alert(1)&lt;/script&gt;</dd>"
        "</dl></div>\n    "
    )
    assert "<script>alert" not in html


def test_a_deeply_nested_value_is_shown_as_its_json_text(
    api: ApiClient, client: Client, member: Any
) -> None:
    # given data nested 30 levels deep
    deep: Any = "bottom"
    for _ in range(30):
        deep = {"d": deep}
    order = create(api, data=deep)
    # when a member opens its page, then below 12 levels the rest is its JSON text
    html = page(client, member, f"/orders/{order.id}")
    assert html.count("<details open>") == 11
    assert "<dd>{&quot;d&quot;: {&quot;d&quot;:" in html


def test_files_are_grouped_by_product_and_part_with_thumbnails(
    api: ApiClient, client: Client, member: Any
) -> None:
    # given an order with a file of its own, one on the first product and one on a part of the
    # second, and an image on the first part of the first product
    body = order_body(assets=[{"name": "order.pdf", "contentBase64": STL}])
    first, second = body["products"]
    first["assets"] = [{"name": "ring0.stl", "contentBase64": STL}]
    first["parts"][0]["assets"] = [
        {"name": "band.png", "contentType": "image/png", "contentBase64": PNG}
    ]
    second["parts"][1]["assets"] = [{"name": "stone1.stl", "contentBase64": STL}]
    response = api.post("/api/v1/orders", body)
    order = Order.objects.get(pk=response.json()["id"])
    # when a member opens its page
    html = page(client, member, f"/orders/{order.id}")
    files = html.split('id="files-h"')[1].split("</section>")[0]
    # then the files come under their product and part, in that order, parts without files left out
    found = re.findall(r'href="/(products|parts|files)/[^"]+">([^<]+)</a>', files)
    assert found == [
        ("files", "order.pdf"),
        ("products", "Ring 0"),
        ("files", "ring0.stl"),
        ("parts", "band"),
        ("files", "band.png"),
        ("products", "Ring 1"),
        ("parts", "stone"),
        ("files", "stone1.stl"),
    ]
    # and the image has a thumbnail, the other files none
    png = Asset.objects.get(name="band.png")
    assert re.findall(r'<img src="(/files/[^"]+)"', files) == [f"/files/{png.id}"]


def test_a_product_deadline_is_stored_returned_and_shown(
    api: ApiClient, client: Client, member: Any
) -> None:
    # given an order whose first product has a deadline, given with an offset
    body = order_body()
    body["products"][0]["deadline"] = "2026-12-24T14:30:00+02:00"
    response = api.post("/api/v1/orders", body)
    # then it is stored in UTC and returned; the other product has none
    assert response.status_code == 201, response.content
    products = response.json()["products"]
    assert [p["deadline"] for p in products] == ["2026-12-24T12:30:00Z", None]
    ring0 = Product.objects.get(name="Ring 0")
    assert ring0.deadline is not None and ring0.deadline.isoformat() == "2026-12-24T12:30:00+00:00"
    assert api.get(f"/api/v1/products/{ring0.id}").json()["deadline"] == "2026-12-24T12:30:00Z"
    # and the order page and the product page show it
    order_page = page(client, member, f"/orders/{ring0.order_id}")
    assert '<td class="small text-nowrap">2026-12-24 12:30</td>' in order_page
    assert '<td class="small text-nowrap">—</td>' in order_page
    assert "<dt>Deadline</dt><dd>2026-12-24 12:30</dd>" in page(
        client, member, f"/products/{ring0.id}"
    )


@pytest.mark.parametrize(
    ("deadline", "message"),
    [
        ("next week", "Input should be a valid datetime or date, input is too short"),
        (
            "2026-13-01T00:00:00Z",
            "Input should be a valid datetime or date, "
            "month value is outside expected range of 1-12",
        ),
        ("2026-12-24T12:00:00", "Input should have timezone info"),
        ("0001-01-01T00:00:00+01:00", "Value error, date out of range"),
    ],
)
def test_a_bad_product_deadline_is_a_422_naming_the_field(
    api: ApiClient, deadline: Any, message: str
) -> None:
    body = order_body()
    body["products"][1]["deadline"] = deadline
    response = api.post("/api/v1/orders", body)
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    errors = response.json()["errors"]
    assert [(e["loc"], e["msg"]) for e in errors] == [
        (["body", "products", 1, "deadline"], message)
    ]
    assert not Order.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_timeline_groups_each_task_run_and_labels_every_entry(
    api: ApiClient, tenant: Tenant, client: Client
) -> None:
    # given an order whose flow mails, then waits for a person, who approves
    chain = [{**MAIL, "next": [{"taskDefinitionKey": "check", "trigger": "success"}]}, manual()]
    order = start(api, tenant, flow(*chain))
    assert complete(api, order, "check", "approve").status_code == 202
    run_engine(order)
    member = create_user(organization=tenant.org, email="m@acme.test", password="x-pass-1234")
    # when a member opens its page
    html = page(client, member, f"/orders/{order.id}")
    timeline = html.split('id="timeline-h">Timeline</div>')[1].split("</section>")[0]
    # then each task run is one group, its events oldest first, with its key, state and times
    groups = re.findall(r'<li class="task-run">(.*?)</details></li>', timeline, re.S)
    labels = [re.findall(r'<span class="fw-semibold">([^<]+)</span>', g) for g in groups]
    assert labels == [
        ["Task started", "Task waiting", "Task completed", "Task succeeded"],
        ["Task started", "Task succeeded"],
    ]
    assert "<strong>Task check</strong> · Check " in groups[0]
    assert "<strong>Task mail</strong> · Order WEB-1001 " in groups[1]
    assert all("(attempt 1)" in g for g in groups)
    assert all('text-bg-light">succeeded</span>' in g and "finished 20" in g for g in groups)
    # and the order's own entries stand outside the groups, newest first
    outside = re.sub(r'<li class="task-run">.*?</details></li>', "", timeline, flags=re.S)
    assert re.findall(r'<span class="fw-semibold">([^<]+)</span>', outside) == [
        "Order status changed",
        "Flow succeeded",
        "Order status changed",
        "Stage started",
        "Flow started",
        "Flow assigned",
        "Order created",
    ]
    # and no entry shows its stored kind
    assert [kind.value for kind in EventKind if kind.value in html] == []


def test_another_organizations_order_product_and_part_are_not_found(
    api: ApiClient, client: Client, other_tenant: Tenant
) -> None:
    # given an order of one organization and a member of another
    order = create(api)
    stranger = create_user(organization=other_tenant.org, email="o@x.test", password="x-pass-1234")
    client.force_login(stranger)
    product, part = Product.objects.first(), Part.objects.first()
    assert product is not None and part is not None
    # when they open its pages, then each is 404
    for path in (f"/orders/{order.id}", f"/products/{product.id}", f"/parts/{part.id}"):
        assert client.get(path).status_code == 404, path
    assert client.get(f"/orders/{order.id}/files.zip").status_code == 404
