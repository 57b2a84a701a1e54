"""The orders API contract, field by field."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

import pytest

from fabflow.orders.models import Asset, Order, OrderEvent, Part, Product
from tests.factories import ApiClient, Tenant, order_body

UUID_RE = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


def create(api: ApiClient, **overrides: Any) -> dict[str, Any]:
    response = api.post("/api/v1/orders", order_body(**overrides))
    assert response.status_code == 201, response.content
    return response.json()


def test_create_order_returns_the_contract_fields(api: ApiClient, tenant: Tenant) -> None:
    # given a body with 2 products x 2 parts
    # when it is posted
    body = create(
        api,
        deadline="2026-12-24T12:00:00Z",
        updateUrl="https://shop.example/u",
        addresses=[
            {
                "addressType": "shipping",
                "purpose": "delivery",
                "data": {"city": "Antwerp", "country": "BE"},
            }
        ],
    )
    # then the order object has exactly the documented fields
    assert set(body) == {
        "id",
        "name",
        "thirdPartyOrderId",
        "spaceKey",
        "flow",
        "status",
        "value",
        "currency",
        "createdAt",
        "deadline",
        "tags",
        "customerEmail",
        "customerInfo",
        "addresses",
        "data",
        "updateUrl",
        "url",
        "assets",
        "products",
        "tasks",
    }
    assert body["name"] == "WEB-1001"
    assert body["thirdPartyOrderId"] == "WEB-1001"
    assert body["spaceKey"] == "acme-rings"
    assert body["flow"] is None
    assert body["status"] == "created"
    assert body["value"] == "198.00"
    assert body["currency"] == "EUR"
    assert body["deadline"] == "2026-12-24T12:00:00Z"
    assert body["tags"] == ["vip"]
    assert body["customerEmail"] == "ann@example.com"
    assert body["customerInfo"] == {"name": "Ann", "email": "ann@example.com"}
    assert body["addresses"] == [
        {
            "addressType": "shipping",
            "purpose": "delivery",
            "data": {"city": "Antwerp", "country": "BE"},
        }
    ]
    assert body["data"] == {"channel": "web"}
    assert body["updateUrl"] == "https://shop.example/u"
    assert body["url"].endswith(f"/orders/{body['id']}")
    assert body["tasks"] == []


def test_create_order_returns_products_and_parts_in_order(api: ApiClient) -> None:
    body = create(api)
    products = body["products"]
    assert [p["name"] for p in products] == ["Ring 0", "Ring 1"]
    first = products[0]
    assert set(first) == {
        "id",
        "orderId",
        "name",
        "configurationId",
        "configuration",
        "units",
        "value",
        "deadline",
        "createdAt",
        "thumbnailUrl",
        "manufacturingData",
        "assets",
        "parts",
    }
    assert first["thumbnailUrl"] is None
    assert first["manufacturingData"] == {}
    assert first["orderId"] == body["id"]
    assert first["configurationId"] == "cfg-0"
    assert first["configuration"] == {"size": 16}
    assert first["units"] == 2
    assert first["value"] == "49.50"
    assert [p["name"] for p in first["parts"]] == ["band", "stone"]
    part = first["parts"][0]
    assert set(part) == {
        "id",
        "orderId",
        "productId",
        "name",
        "data",
        "manufacturingData",
        "createdAt",
        "assets",
    }
    assert part["productId"] == first["id"]
    assert part["data"] == {"material": "PLA"}
    assert part["manufacturingData"] == {}


def test_create_order_stores_rows_and_a_created_event(api: ApiClient, tenant: Tenant) -> None:
    body = create(api)
    order = Order.objects.get(pk=body["id"])
    assert order.space == tenant.space
    assert order.organization == tenant.org
    assert order.value == Decimal("198.00")
    assert Product.objects.filter(order=order).count() == 2
    assert Part.objects.filter(order=order).count() == 4
    assert list(OrderEvent.objects.filter(order=order).values_list("kind", flat=True)) == [
        "order.created"
    ]


@pytest.mark.parametrize(
    ("products", "expected"),
    [
        ([{"name": "a", "units": 3, "value": 10}], "30.00"),
        (
            [{"name": "a", "units": 1, "value": "0.10"}, {"name": "b", "units": 3, "value": 0.2}],
            "0.70",
        ),
        ([{"name": "a", "units": 7}], "0.00"),
        ([{"name": "a", "units": 1000000, "value": "9999.99"}], "9999990000.00"),
    ],
)
def test_order_value_is_the_sum_of_units_times_unit_value(
    api: ApiClient, products: list[dict[str, Any]], expected: str
) -> None:
    assert create(api, products=products)["value"] == expected


def test_name_defaults_to_third_party_id_but_can_be_given(api: ApiClient) -> None:
    assert create(api, thirdPartyOrderId="A-1", name="Ann's ring")["name"] == "Ann's ring"


def test_space_key_of_another_space_is_forbidden(api: ApiClient, other_tenant: Tenant) -> None:
    response = api.post("/api/v1/orders", order_body(spaceKey="globex-braces"))
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert Order.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_duplicate_is_told_by_its_constraint_without_a_savepoint(api: ApiClient) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    # given an order (outside a test transaction: the request's transaction is the outer one)
    with CaptureQueriesContext(connection) as queries:
        create(api, thirdPartyOrderId="SP-1")
    assert not [q for q in queries.captured_queries if "SAVEPOINT" in q["sql"]]
    # when the same id comes again, then it is the 409 of a duplicate, and nothing is stored
    with CaptureQueriesContext(connection) as queries:
        response = api.post("/api/v1/orders", order_body("SP-1"))
    assert response.status_code == 409
    assert not [q for q in queries.captured_queries if "SAVEPOINT" in q["sql"]]
    assert Order.objects.count() == 1


def test_own_space_key_is_accepted(api: ApiClient) -> None:
    assert create(api, spaceKey="acme-rings")["spaceKey"] == "acme-rings"


def test_third_party_order_id_is_unique_per_space(api: ApiClient, other_tenant: Tenant) -> None:
    create(api, thirdPartyOrderId="DUP-1")
    # when the same id is posted again in the same space
    response = api.post("/api/v1/orders", order_body("DUP-1"))
    # then it is a conflict naming the field, and nothing more is stored
    assert response.status_code == 409
    assert response.json()["errors"] == [
        {"loc": ["body", "thirdPartyOrderId"], "msg": "already used"}
    ]
    assert Order.objects.count() == 1
    # but another space may use it
    other = ApiClient(other_tenant.secret)
    assert other.post("/api/v1/orders", order_body("DUP-1")).status_code == 201


def test_unknown_flow_key_is_422(api: ApiClient) -> None:
    response = api.post("/api/v1/orders", order_body(flowKey="no-such-flow"))
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "flowKey"]
    assert Order.objects.count() == 0


def test_flow_key_pins_the_latest_flow_version(api: ApiClient, tenant: Tenant) -> None:
    from fabflow.demo.management.commands.demo import demo_flow
    from fabflow.flows.services import create_flow, save_version

    flow = create_flow(space=tenant.space, name="standard-flow", definition=demo_flow())
    save_version(flow=flow, definition=demo_flow())
    body = create(api, flowKey="standard-flow")
    assert body["flow"] == {"key": "standard-flow", "version": 2}


def test_each_order_takes_the_version_current_when_it_arrives(
    api: ApiClient, tenant: Tenant
) -> None:
    from fabflow.demo.management.commands.demo import demo_flow
    from fabflow.flows.models import Flow
    from fabflow.flows.services import create_flow, save_version

    flow = create_flow(space=tenant.space, name="standard-flow", definition=demo_flow())
    first = create(api, flowKey="standard-flow", thirdPartyOrderId="V-1")
    save_version(flow=flow, definition=demo_flow())
    second = create(api, flowKey="standard-flow", thirdPartyOrderId="V-2")
    assert [first["flow"]["version"], second["flow"]["version"]] == [1, 2]
    Flow.objects.filter(pk=flow.pk).update(archived=True)
    archived = api.post("/api/v1/orders", order_body(flowKey="standard-flow"))
    assert archived.status_code == 422
    assert archived.json()["errors"][0]["loc"] == ["body", "flowKey"]


def test_get_order_returns_the_same_object_as_create(api: ApiClient) -> None:
    created = create(api)
    fetched = api.get(f"/api/v1/orders/{created['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == created


def test_inline_asset_is_stored_and_downloadable(api: ApiClient) -> None:
    content = b"solid ring\nendsolid ring\n"
    products = [
        {
            "name": "Ring",
            "parts": [
                {
                    "name": "band",
                    "assets": [
                        {"name": "band.stl", "contentBase64": base64.b64encode(content).decode()}
                    ],
                }
            ],
        }
    ]
    body = create(api, products=products)
    asset = body["products"][0]["parts"][0]["assets"][0]
    assert asset["name"] == "band.stl"
    assert asset["state"] == "ready"
    assert asset["source"] == "inline"
    assert asset["size"] == len(content)
    assert asset["contentType"] == "model/stl"
    # with the key
    response = api.get(f"/api/v1/assets/{asset['id']}/download")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == content
    assert 'filename="band.stl"' in response["Content-Disposition"]
    # with the signed link and no key
    anonymous = ApiClient(None)
    path = asset["downloadUrl"].split("://", 1)[1].split("/", 1)[1]
    signed = anonymous.client.get("/" + path)
    assert signed.status_code == 200
    assert b"".join(signed.streaming_content) == content


def test_tampered_download_token_is_refused(api: ApiClient) -> None:
    products = [{"name": "Ring", "assets": [{"name": "a.txt", "contentBase64": "YQ=="}]}]
    asset = create(api, products=products)["products"][0]["assets"][0]
    response = ApiClient(None).get(f"/api/v1/assets/{asset['id']}/download", token="x:y:z")
    assert response.status_code == 401


def test_list_orders_filters_by_status_tag_and_text(api: ApiClient) -> None:
    a = create(api, thirdPartyOrderId="SHOP-1", tags=["vip"], customerEmail="zoe@example.com")
    b = create(api, thirdPartyOrderId="SHOP-2", tags=["rush"])
    Order.objects.filter(pk=b["id"]).update(status="failure")

    def ids(**params: Any) -> list[str]:
        response = api.get("/api/v1/orders", **params)
        assert response.status_code == 200, response.content
        return [o["id"] for o in response.json()["items"]]

    assert ids(status="failure") == [b["id"]]
    assert ids(tag="VIP") == [a["id"]]
    assert ids(tag="vi") == []
    assert ids(q="zoe@") == [a["id"]]
    assert ids(q="shop-2") == [b["id"]]
    assert ids(ordering="createdAt") == [a["id"], b["id"]]


def test_list_orders_filters_by_created_range(api: ApiClient) -> None:
    a = create(api, thirdPartyOrderId="T-1")
    b = create(api, thirdPartyOrderId="T-2")
    Order.objects.filter(pk=a["id"]).update(created_at="2026-01-01T00:00:00Z")
    response = api.get("/api/v1/orders", createdAfter="2026-06-01T00:00:00Z")
    assert [o["id"] for o in response.json()["items"]] == [b["id"]]
    response = api.get("/api/v1/orders", createdBefore="2026-06-01T00:00:00Z")
    assert [o["id"] for o in response.json()["items"]] == [a["id"]]


@pytest.mark.parametrize("ordering", ["-createdAt", "createdAt", "name", "-value", "deadline"])
def test_cursor_pagination_visits_every_order_once(api: ApiClient, ordering: str) -> None:
    # given 7 orders, some with equal sort values
    made = {
        create(
            api, thirdPartyOrderId=f"P-{i % 3}-{i}", products=[{"name": "r", "value": str(i % 2)}]
        )["id"]
        for i in range(7)
    }
    # when walking pages of 3 by following `next`
    seen: list[str] = []
    page = api.get("/api/v1/orders", limit=3, ordering=ordering).json()
    seen += [o["id"] for o in page["items"]]
    while page["next"]:
        path = page["next"].split("testserver", 1)[1]
        page = api.client.get(path, headers=api.headers).json()
        seen += [o["id"] for o in page["items"]]
    # then every order appears exactly once
    assert sorted(seen) == sorted(made)
    assert len(seen) == 7


def test_bad_cursor_and_ordering_are_422(api: ApiClient) -> None:
    assert api.get("/api/v1/orders", cursor="garbage").status_code == 422
    response = api.get("/api/v1/orders", ordering="password")
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["query", "ordering"]


def test_limit_is_capped_at_200(api: ApiClient) -> None:
    assert api.get("/api/v1/orders", limit=201).status_code == 422


def test_products_and_parts_lists(api: ApiClient) -> None:
    order = create(api)
    create(api, thirdPartyOrderId="OTHER", products=[{"name": "Brace"}])
    products = api.get("/api/v1/products", orderId=order["id"]).json()["items"]
    assert sorted(p["name"] for p in products) == ["Ring 0", "Ring 1"]
    assert api.get("/api/v1/products", q="brace").json()["items"][0]["name"] == "Brace"
    parts = api.get("/api/v1/parts", orderId=order["id"], ordering="name").json()["items"]
    assert [p["name"] for p in parts] == ["band", "band", "stone", "stone"]
    one = api.get(f"/api/v1/parts/{parts[0]['id']}").json()
    assert one["orderId"] == order["id"]
    product = api.get(f"/api/v1/products/{products[0]['id']}").json()
    assert len(product["parts"]) == 2


def test_events_list_the_timeline(api: ApiClient) -> None:
    order = create(api)
    response = api.get(f"/api/v1/orders/{order['id']}/events")
    assert response.status_code == 200
    items = response.json()["items"]
    assert [e["kind"] for e in items] == ["order.created"]
    assert items[0]["actor"].startswith("key:ffsk_")
    assert items[0]["data"] == {"products": 2, "parts": 4, "assets": 0}


def test_upload_asset_to_a_part(api: ApiClient) -> None:
    order = create(api)
    part = order["products"][1]["parts"][0]
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("scan.3mf", b"3mf-bytes", content_type="model/3mf")
    response = api.client.post(
        f"/api/v1/orders/{order['id']}/assets",
        {"file": upload, "partId": part["id"]},
        headers=api.headers,
    )
    assert response.status_code == 201, response.content
    asset = Asset.objects.get(pk=response.json()["id"])
    assert asset.part_id is not None and str(asset.part_id) == part["id"]
    assert str(asset.product_id) == order["products"][1]["id"]
    assert asset.size == 9
    assert asset.file.read() == b"3mf-bytes"
    kinds = list(OrderEvent.objects.filter(order_id=order["id"]).values_list("kind", flat=True))
    assert kinds == ["order.created", "asset.added"]


def test_upload_to_a_part_of_another_order_is_422(api: ApiClient) -> None:
    first, second = create(api, thirdPartyOrderId="U-1"), create(api, thirdPartyOrderId="U-2")
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("x.stl", b"x")
    response = api.client.post(
        f"/api/v1/orders/{first['id']}/assets",
        {"file": upload, "partId": second["products"][0]["parts"][0]["id"]},
        headers=api.headers,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["form", "partId"]
    assert Asset.objects.count() == 0


def test_health_needs_no_key(db: None) -> None:
    response = ApiClient(None).get("/api/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["jobs"]["ready"] == 0
    assert body["flows"] == {"due": 0, "oldestDueAgeSeconds": None}


def test_openapi_document_names_the_schemas(db: None) -> None:
    doc = ApiClient(None).get("/api/openapi.json").json()
    schemas = doc["components"]["schemas"]
    for name in [
        "OrderIn",
        "OrderOut",
        "ProductIn",
        "PartIn",
        "AssetIn",
        "OrderPage",
        "IFlowStage",
        "SendEmailPayload",
        "AssetEmailPayload",
        "ConsumeRestApiPayload",
        "ManualTaskPayload",
        "WaitPayload",
    ]:
        assert name in schemas
    assert "FlowStage" not in schemas
    assert schemas["ConsumeRestApiPayload"]["x-handlerKey"] == "consume-rest-api"
    assert "/api/v1/orders" in doc["paths"]


def test_swagger_ui_uses_only_local_assets(db: None) -> None:
    html = ApiClient(None).client.get("/api/docs").content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()


# POST /orders/{id}/start takes {"flowKey"} in the body, as the contract says.


@pytest.fixture
def later_flow(tenant: Tenant) -> Any:
    from fabflow.flows.services import create_flow

    task = {"key": "check", "handlerKey": "manual-task", "payload": {"title": "Check"}}
    definition = [{"key": "s", "name": "S", "taskDefinitions": [task]}]
    return create_flow(space=tenant.space, name="later-flow", definition=definition)


def start(
    api: ApiClient, order_id: str, body: Any = None, query: str = "", form: bool = False
) -> Any:
    path = f"/api/v1/orders/{order_id}/start{query}"
    if body is None:  # the test client's empty multipart form
        return api.client.post(path, headers=api.headers)
    if form:  # `curl -d '{...}'` without a Content-Type says it is a form
        kind = "application/x-www-form-urlencoded"
        return api.client.post(path, json.dumps(body), content_type=kind, headers=api.headers)
    return api.post(path, body)


@pytest.mark.parametrize(
    ("body", "query", "form"),
    [
        ({"flowKey": "later-flow"}, "", False),
        ({"flowKey": "later-flow"}, "", True),
        (None, "?flowKey=later-flow", False),
        ({}, "?flowKey=later-flow", False),
    ],
    ids=["body", "body-sent-as-form", "query", "empty-body-and-query"],
)
def test_start_takes_the_flow_key_from_the_body_or_the_query(
    api: ApiClient, later_flow: Any, body: Any, query: str, form: bool
) -> None:
    # given an order created without a flow
    order = create(api)
    # when its flow is started naming a flow in the body or the query string
    response = start(api, order["id"], body, query, form)
    # then that flow is pinned and started
    assert response.status_code == 202, response.content
    assert api.get(f"/api/v1/orders/{order['id']}").json()["flow"] == {
        "key": "later-flow",
        "version": 1,
    }


@pytest.mark.parametrize(
    ("body", "query", "loc"),
    [
        ({"flowKey": "later-flow"}, "?flowKey=other-flow", ["body", "flowKey"]),
        ({"flowKey": "later-flow", "flow": "x"}, "", ["body", "flow"]),
        ({"flowKey": 5}, "", ["body", "flowKey"]),
    ],
    ids=["body-and-query-differ", "unknown-field", "not-text"],
)
def test_a_bad_start_body_is_422_and_starts_nothing(
    api: ApiClient, later_flow: Any, body: Any, query: str, loc: list[Any]
) -> None:
    # given an order created without a flow / when started with a bad body
    order = create(api)
    response = start(api, order["id"], body, query)
    # then 422 names the field, and the order still has no flow
    assert response.status_code == 422, response.content
    assert loc in [e["loc"] for e in response.json()["errors"]]
    assert Order.objects.get(pk=order["id"]).flow_key == ""


def test_openapi_document_shows_the_start_body(db: None) -> None:
    # given the OpenAPI document / when the start operation is read
    document = ApiClient(None).get("/api/openapi.json").json()
    operation = document["paths"]["/api/v1/orders/{order_id}/start"]["post"]
    # then it takes an optional JSON body with flowKey (and still the query parameter)
    body = operation["requestBody"]
    assert body["required"] is False
    schema = body["content"]["application/json"]["schema"]
    assert {"$ref": "#/components/schemas/StartIn"} in schema["anyOf"]
    assert list(document["components"]["schemas"]["StartIn"]["properties"]) == ["flowKey"]
    assert [p["name"] for p in operation["parameters"] if p["in"] == "query"] == ["flowKey"]
