"""`materialise-order` through the real engine against a fake i.materialise on 127.0.0.1."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from fabflow.connectors.models import Connection
from fabflow.orders.models import Order
from tests.factories import ApiClient, Tenant
from tests.integration.test_3yourmind import events, flow_examples, tick
from tests.integration.test_engine import flow, run, start
from tests.support.fakes import DATA, recorded
from tests.support.materialise import FINISH, MATERIAL, FakeMaterialise

pytestmark = pytest.mark.django_db(transaction=True)

STL = (DATA / "materialise" / "ring.stl").read_bytes()
SHIPPING = {
    "addressType": "shipping",
    "data": {
        "name": "Ann Lee",
        "company": "Lee Rings",
        "line1": "Hauptstr. 5",
        "line2": "Hinterhaus",
        "city": "Berlin",
        "postcode": "10115",
        "state": "BE",
        "country": "DE",
    },
}
CUSTOMER = {"name": "Ann Lee", "email": "ann@example.com", "phone": "+49 30 1234567"}


@pytest.fixture
def partner(settings: Any) -> Iterator[FakeMaterialise]:
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    fake = FakeMaterialise()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def connection(tenant: Tenant, partner: FakeMaterialise) -> Connection:
    return Connection.objects.create(
        organization=tenant.org,
        space=tenant.space,
        name="imat",
        kind="materialise",
        base_url=partner.base_url,
        credentials={"toolId": partner.tool_id, "apiCode": partner.api_code},
    )


def task(**payload: Any) -> dict[str, Any]:
    body = {
        "connection": "imat",
        "materialId": MATERIAL,
        "finishId": FINISH,
        "remarks": "Fabflow order {order.name}",
        **payload,
    }
    return {"key": "partner", "handlerKey": "materialise-order", "payload": body}


def ordered(api: ApiClient, tenant: Tenant, units: tuple[int, ...] = (2,), **body: Any) -> Order:
    content = base64.b64encode(STL).decode()
    products = [
        {
            "name": f"Ring {i}",
            "units": n,
            "value": "49.50",
            "assets": [{"name": f"ring-{i}.stl", "contentBase64": content}],
        }
        for i, n in enumerate(units)
    ]
    order_fields = {"addresses": [SHIPPING], "customerInfo": CUSTOMER, **body}
    return start(api, tenant, flow(task()), products=products, **order_fields)


def sent(partner: FakeMaterialise, path: str) -> Any:
    [request] = partner.calls("POST", path)
    if request.json is not None:
        return request.json
    return json.loads(request.files["data"][2])


def test_the_order_is_uploaded_priced_carted_checked_out_and_polled_to_shipped(
    api: ApiClient, tenant: Tenant, partner: FakeMaterialise, connection: Connection
) -> None:
    # given an order of one product (2 units) with one STL file and a shipping address
    order = ordered(api, tenant)
    # then the model went up under the connection's tool id, without the API code
    [upload] = partner.calls("POST", f"/web-api/tool/{partner.tool_id}/model")
    assert (upload.files["file"][:1], upload.form) == (("ring-0.stl",), {"fileUnits": "mm"})
    assert partner.models == {"model-1": ("ring-0.stl", STL)}
    assert "Apicode" not in upload.headers
    # and it was priced, carted and checked out with the documents Materialise expects
    assert sent(partner, "/web-api/pricing/model") == recorded(
        "materialise", "pricing.request.json"
    )
    assert sent(partner, "/web-api/cartitems/register") == recorded(
        "materialise", "cartitems.request.json"
    )
    assert sent(partner, "/web-api/cart/post") == recorded("materialise", "cart.request.json")
    assert sent(partner, "/web-api/order/post") == recorded("materialise", "checkout.request.json")
    assert {r.headers.get("Apicode") for r in partner.received[1:]} == {partner.api_code}
    # when the order status is polled: Ordered, InProduction, Shipped
    assert run(order, "partner").state == "waiting"
    assert tick(order).state == "waiting"
    done = tick(order)
    # then the task succeeds with the partner's ids
    assert done.state == "succeeded"
    assert done.result == {
        "orderNumber": "IM-00001",
        "orderId": "order-1",
        "cartId": "cart-1",
        "models": [
            {
                "assetId": done.result["models"][0]["assetId"],
                "name": "ring-0.stl",
                "modelId": "model-1",
            }
        ],
        "status": "shipped",
    }
    assert [r.json for r in partner.calls("POST", "/web-api/order")] == [
        recorded("materialise", "order-status.request.json")
    ] * 3
    assert partner.violations == []


def test_each_file_is_a_model_and_a_cart_item_with_its_products_units(
    api: ApiClient, tenant: Tenant, partner: FakeMaterialise, connection: Connection
) -> None:
    ordered(api, tenant, units=(2, 5))
    assert sorted(partner.models) == ["model-1", "model-2"]
    items = sent(partner, "/web-api/cartitems/register")["cartItems"]
    assert [(i["modelID"], i["quantity"], i["iMatAPIPrice"]) for i in items] == [
        ("model-1", 2, 25.0),
        ("model-2", 5, 62.5),
    ]
    assert sent(partner, "/web-api/cart/post")["CartItems"] == [
        {"CartItemID": "item-1"},
        {"CartItemID": "item-2"},
    ]


def test_a_billing_address_goes_to_billing_info(
    api: ApiClient, tenant: Tenant, partner: FakeMaterialise, connection: Connection
) -> None:
    billing = {
        "addressType": "billing",
        "data": {
            "name": "Lee Rings GmbH",
            "line1": "Am Markt 1",
            "city": "Potsdam",
            "zip": "14467",
            "country": "DE",
            "vatNumber": "DE123456789",
        },
    }
    ordered(api, tenant, addresses=[SHIPPING, billing])
    info = sent(partner, "/web-api/cart/post")["BillingInfo"]
    assert (info["FirstName"], info["LastName"], info["Line1"], info["ZipCode"]) == (
        "Lee Rings",
        "GmbH",
        "Am Markt 1",
        "14467",
    )
    assert info["VatNumber"] == "DE123456789"
    assert sent(partner, "/web-api/cart/post")["ShippingInfo"]["City"] == "Berlin"


def test_a_cancelled_order_fails_the_task(
    api: ApiClient, tenant: Tenant, partner: FakeMaterialise, connection: Connection
) -> None:
    partner.statuses = ["Ordered", "Cancelled"]
    order = ordered(api, tenant)
    task_run = tick(order)
    assert (task_run.state, task_run.reason) == (
        "failed",
        "Materialise order IM-00001 is cancelled",
    )
    assert order.status == "failure"


def test_a_wrong_api_code_fails_the_task_with_the_partners_401(
    api: ApiClient, tenant: Tenant, partner: FakeMaterialise, connection: Connection
) -> None:
    connection.credentials = {"toolId": partner.tool_id, "apiCode": "wrong"}
    connection.save()
    order = ordered(api, tenant)
    task_run = run(order, "partner")
    assert task_run.state == "failed"
    assert task_run.reason == (
        "Materialise answered 401 to POST web-api/pricing/model: The API code is not valid."
    )
    assert partner.carts == {}


def test_a_wrong_tool_id_fails_the_upload_without_showing_the_tool_id(
    api: ApiClient, tenant: Tenant, partner: FakeMaterialise, connection: Connection
) -> None:
    connection.credentials = {"toolId": "tool-wrong", "apiCode": partner.api_code}
    connection.save()
    task_run = run(ordered(api, tenant), "partner")
    assert (task_run.state, task_run.reason) == (
        "failed",
        "Materialise answered 403 to POST web-api/tool/{toolId}/model: The tool ID is not valid.",
    )


def test_a_refused_finish_fails_the_task_at_once_with_the_partners_message(
    api: ApiClient, tenant: Tenant, partner: FakeMaterialise, connection: Connection
) -> None:
    partner.materials = {MATERIAL: set()}
    order = ordered(api, tenant)
    task_run = run(order, "partner")
    assert task_run.state == "failed"
    assert task_run.reason == (
        "Materialise answered 400 to POST web-api/pricing/model: Finish 'bba2bebb-0000' is not "
        "available for material '035f4772-da8a-400b-8be4-2dd344b28ddb'."
    )
    assert events(order, "task.retry_scheduled") == []


def test_a_checkout_while_the_partner_is_down_is_retried_without_a_second_cart(
    api: ApiClient, tenant: Tenant, partner: FakeMaterialise, connection: Connection
) -> None:
    # given a partner that answers 503 twice to the checkout
    partner.down(times=2, path="^/web-api/order/post$")
    order = ordered(api, tenant)
    assert (
        run(order, "partner").reason
        == "Materialise answered 503 to POST web-api/order/post: 503 Service Unavailable"
    )
    # when the retries run, the second one with the partner back
    tick(order, 2)
    # then the model, the cart item and the cart were made once, and the order placed once
    assert len(partner.calls("POST", f"/web-api/tool/{partner.tool_id}/model")) == 1
    assert len(partner.calls("POST", "/web-api/cartitems/register")) == 1
    assert len(partner.calls("POST", "/web-api/cart/post")) == 1
    assert len(partner.calls("POST", "/web-api/order/post")) == 3
    assert list(partner.orders) == ["IM-00001"]
    assert len(events(order, "task.retry_scheduled")) == 2
    assert run(order, "partner").state == "waiting"


def test_an_order_without_a_shipping_address_fails(
    api: ApiClient, tenant: Tenant, partner: FakeMaterialise, connection: Connection
) -> None:
    task_run = run(ordered(api, tenant, addresses=[]), "partner")
    assert (task_run.state, task_run.reason) == (
        "failed",
        "the order has no shipping address for Materialise",
    )
    assert partner.received == []


def test_the_documented_flow_example_is_valid(api: ApiClient) -> None:
    [example] = flow_examples("materialise.md")
    response = api.post("/api/v1/flows/validate", {"definition": example})
    assert response.json()["errors"] == []


def test_the_connection_test_reads_todays_order_statistics_with_the_api_code(
    api: ApiClient, partner: FakeMaterialise, connection: Connection
) -> None:
    response = api.post(f"/api/v1/connections/{connection.id}/test", {})
    assert response.json() == {
        "ok": True,
        "status": 200,
        "message": "Materialise answered 200: the credentials work",
    }
    [read] = partner.received
    assert (read.method, read.path, read.headers["Apicode"]) == (
        "GET",
        "/web-api/orders",
        partner.api_code,
    )
    assert partner.violations == []


def test_the_connection_test_reports_a_wrong_api_code(
    api: ApiClient, partner: FakeMaterialise, connection: Connection
) -> None:
    partner.api_code = "another"
    response = api.post(f"/api/v1/connections/{connection.id}/test", {})
    assert response.json() == {
        "ok": False,
        "status": 401,
        "message": "Materialise answered 401: The API code is not valid.",
    }
