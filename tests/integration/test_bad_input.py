"""A corpus of bad requests: each gets a 4xx problem naming the field, and nothing is written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fabflow.orders.models import Asset, IdempotencyKey, Order, OrderEvent, Part, Product
from tests.factories import ApiClient, order_body
from tests.integration.test_connector_flow import connector, feedback, started

__all__ = ["connector"]  # a fixture used below


def with_product(**fields: Any) -> str:
    product = {"name": "Ring", **fields}
    return json.dumps(order_body(products=[product]))


def deep(levels: int) -> str:
    return json.dumps(order_body(data=json.loads('{"a":' * levels + "1" + "}" * levels)))


CORPUS: list[tuple[str, str | bytes, int, list[Any] | None]] = [
    ("empty body", b"", 422, None),
    ("not json", b"{nope", 400, ["body"]),
    ("truncated", b'{"thirdPartyOrderId": "A', 400, ["body"]),
    ("json array", b"[]", 422, None),
    ("json string", b'"order"', 422, None),
    ("NaN", with_product(units=1).replace('"units": 1', '"units": NaN'), 400, ["body"]),
    (
        "Infinity value",
        with_product(value=1).replace('"value": 1', '"value": Infinity'),
        400,
        ["body"],
    ),
    (
        "float overflow",
        with_product(value=1).replace('"value": 1', '"value": 1e999'),
        400,
        ["body"],
    ),
    ("huge integer", with_product(units=10**30), 422, ["body", "products", 0, "units"]),
    (
        "huge digits",
        with_product(units=1).replace('"units": 1', '"units": ' + "9" * 5000),
        400,
        ["body"],
    ),
    ("huge value", with_product(value="1e20"), 422, ["body", "products", 0, "value"]),
    ("negative value", with_product(value="-0.01"), 422, ["body", "products", 0, "value"]),
    ("three decimals", with_product(value="1.005"), 422, ["body", "products", 0, "value"]),
    ("units zero", with_product(units=0), 422, ["body", "products", 0, "units"]),
    ("units negative", with_product(units=-3), 422, ["body", "products", 0, "units"]),
    ("units float", with_product(units=1.5), 422, ["body", "products", 0, "units"]),
    ("units string", with_product(units="two"), 422, ["body", "products", 0, "units"]),
    ("no products", json.dumps(order_body(products=[])), 422, ["body", "products"]),
    (
        "no third party id",
        json.dumps({"products": [{"name": "x"}]}),
        422,
        ["body", "thirdPartyOrderId"],
    ),
    ("blank third party id", json.dumps(order_body("   ")), 422, ["body", "thirdPartyOrderId"]),
    ("unknown top field", json.dumps(order_body(priority="high")), 422, ["body", "priority"]),
    ("unknown product field", with_product(colour="red"), 422, ["body", "products", 0, "colour"]),
    (
        "unknown part field",
        with_product(parts=[{"name": "p", "weight": 3}]),
        422,
        ["body", "products", 0, "parts", 0, "weight"],
    ),
    ("deep nesting", deep(40), 422, None),
    ("very deep nesting", b'{"data":' + b"[" * 100000 + b"]" * 100000 + b"}", 400, ["body"]),
    (
        "NUL in name",
        with_product().replace('"Ring"', '"Ri\\u0000ng"'),
        422,
        ["body", "products", 0, "name"],
    ),
    ("NUL in data key", json.dumps(order_body(data={"a\u0000b": 1})), 422, None),
    (
        "lone surrogate",
        with_product().replace('"Ring"', '"Ri\\ud800ng"'),
        422,
        ["body", "products", 0, "name"],
    ),
    ("invalid utf-8", with_product().encode().replace(b"Ring", b"Ri\xffng"), 400, ["body"]),
    ("bad deadline", json.dumps(order_body(deadline="tomorrow")), 422, ["body", "deadline"]),
    (
        "naive deadline",
        json.dumps(order_body(deadline="2026-12-24T12:00:00")),
        422,
        ["body", "deadline"],
    ),
    (
        "bad email",
        json.dumps(order_body(customerEmail="not-an-email")),
        422,
        ["body", "customerEmail"],
    ),
    (
        "bad updateUrl",
        json.dumps(order_body(updateUrl="javascript:alert(1)")),
        422,
        ["body", "updateUrl"],
    ),
    ("tags not list", json.dumps(order_body(tags="vip")), 422, ["body", "tags"]),
    ("tag with pipe", json.dumps(order_body(tags=["a|b"])), 422, ["body", "tags", 0]),
    ("name too long", with_product(name="x" * 201), 422, ["body", "products", 0, "name"]),
    (
        "asset with both sources",
        with_product(assets=[{"name": "a", "contentBase64": "YQ==", "url": "https://x.example/a"}]),
        422,
        None,
    ),
    (
        "asset bad base64",
        with_product(assets=[{"name": "a", "contentBase64": "!!!"}]),
        422,
        ["body", "products", 0, "assets", 0, "contentBase64"],
    ),
    ("asset bad url", with_product(assets=[{"name": "a", "url": "ftp://x/a"}]), 422, None),
    ("flowKey unknown", json.dumps(order_body(flowKey="ghost")), 422, ["body", "flowKey"]),
]


def assert_nothing_written(media: Path) -> None:
    for model in (Order, Product, Part, Asset, OrderEvent, IdempotencyKey):
        assert model.objects.count() == 0, model.__name__
    assert not any(p.is_file() for p in media.rglob("*")) if media.exists() else True


@pytest.mark.parametrize(("name", "raw", "status", "loc"), CORPUS, ids=[c[0] for c in CORPUS])
def test_bad_body_is_a_4xx_problem_and_writes_nothing(
    api: ApiClient,
    settings: Any,
    name: str,
    raw: str | bytes,
    status: int,
    loc: list[Any] | None,
) -> None:
    response = api.post("/api/v1/orders", raw=raw, headers={"Idempotency-Key": f"bad-{name}"})
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    assert problem["title"] and problem["detail"]
    if loc is not None:
        assert loc in [e["loc"] for e in problem["errors"]]
    assert_nothing_written(Path(settings.MEDIA_ROOT))


def test_body_over_the_limit_is_413(api: ApiClient, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = api.post("/api/v1/orders", order_body(data={"blob": "x" * 2000}))
    assert response.status_code == 413
    assert response["Content-Type"] == "application/problem+json"
    assert_nothing_written(Path(settings.MEDIA_ROOT))


def test_inline_asset_over_the_limit_is_413_naming_the_field(api: ApiClient, settings: Any) -> None:
    settings.FABFLOW_MAX_INLINE_ASSET_BYTES = 10
    body = order_body(
        products=[
            {
                "name": "r",
                "assets": [
                    {"name": "ok.txt", "contentBase64": "YQ=="},
                    {"name": "big.bin", "contentBase64": "QUJDREVGR0hJSktMTU5PUA=="},
                ],
            }
        ]
    )
    response = api.post("/api/v1/orders", body)
    assert response.status_code == 413
    assert response.json()["errors"][0]["loc"] == [
        "body",
        "products",
        0,
        "assets",
        1,
        "contentBase64",
    ]
    assert_nothing_written(Path(settings.MEDIA_ROOT))


def test_failure_after_files_were_written_removes_them(api: ApiClient, settings: Any) -> None:
    # given an order that will conflict on thirdPartyOrderId after its files are stored
    body = order_body(
        "TWICE", products=[{"name": "r", "assets": [{"name": "a.txt", "contentBase64": "YQ=="}]}]
    )
    assert api.post("/api/v1/orders", body).status_code == 201
    media = Path(settings.MEDIA_ROOT)
    files_before = sorted(p for p in media.rglob("*") if p.is_file())
    # when the same order is posted again
    assert api.post("/api/v1/orders", body).status_code == 409
    # then no new file is left behind
    assert sorted(p for p in media.rglob("*") if p.is_file()) == files_before


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/orders", {"status": "shipped"}),
        ("/api/v1/orders", {"createdAfter": "yesterday"}),
        ("/api/v1/orders", {"createdAfter": "2026-01-01T00:00:00"}),
        ("/api/v1/orders", {"q": "a\x00b"}),
        ("/api/v1/orders", {"tag": "a\x00"}),
        ("/api/v1/orders", {"limit": "0"}),
        ("/api/v1/orders", {"limit": "abc"}),
        ("/api/v1/orders", {"q": "x" * 201}),
        ("/api/v1/products", {"orderId": "not-a-uuid"}),
        ("/api/v1/parts", {"productId": "123"}),
        ("/api/v1/orders/not-a-uuid", {}),
    ],
)
def test_bad_query_parameters_are_422(api: ApiClient, path: str, params: dict[str, str]) -> None:
    response = api.get(path, **params)
    assert response.status_code == 422, response.content
    assert response["Content-Type"] == "application/problem+json"


def test_multipart_without_boundary_is_400(api: ApiClient) -> None:
    order = api.post("/api/v1/orders", order_body()).json()
    response = api.client.post(
        f"/api/v1/orders/{order['id']}/assets",
        data=b"x",
        content_type="multipart/form-data",
        headers=api.headers,
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize("stamp", ["0820-08-09T11:55:45+21:33", "2026-01-01T00:00:00-23:59"])
def test_extreme_time_zone_offsets_are_normalised_not_500(api: ApiClient, stamp: str) -> None:
    # PostgreSQL refuses offsets beyond ±15:59; instants are converted to UTC first
    assert api.get("/api/v1/orders", createdAfter=stamp).status_code == 200
    assert api.get("/api/v1/parts", createdBefore=stamp).status_code == 200
    response = api.post("/api/v1/orders", order_body("TZ-1", deadline=stamp))
    assert response.status_code == 201
    assert response.json()["deadline"].endswith("Z")


def test_a_date_that_overflows_in_utc_is_422(api: ApiClient) -> None:
    response = api.get("/api/v1/orders", createdAfter="0001-01-01T00:00:00+05:00")
    assert response.status_code == 422


# Flow definitions: caps before anything else, no duplicate keys; feedback's part ids.

FLOW_BODY_LIMIT = 2 * 1024 * 1024


def wait_task(key: str) -> dict[str, Any]:
    return {"key": key, "handlerKey": "wait", "payload": {"durationMs": 1}}


def stages(count: int, tasks_each: int = 1) -> list[dict[str, Any]]:
    return [
        {"key": f"s{i}", "name": f"S{i}", "taskDefinitions": [
            wait_task(f"s{i}t{j}") for j in range(tasks_each)
        ]}
        for i in range(count)
    ]  # fmt: skip


def send_flow(api: ApiClient, endpoint: str, raw: str | bytes, flow_id: str) -> Any:
    """The definition endpoints with the same definition text (`name` only where it is asked)."""
    if endpoint == "update":
        return api.client.put(
            f"/api/v1/flows/{flow_id}", raw, content_type="application/json", headers=api.headers
        )
    path = "/api/v1/flows" if endpoint == "create" else "/api/v1/flows/validate"
    return api.post(path, raw=raw)


def flow_body(endpoint: str, definition: str) -> str:
    name = '"name": "second-flow", ' if endpoint == "create" else ""
    return "{" + name + '"definition": ' + definition + "}"


@pytest.fixture
def saved_flow(api: ApiClient) -> dict[str, Any]:
    response = api.post("/api/v1/flows", {"name": "first-flow", "definition": stages(1)})
    assert response.status_code == 201
    return dict(response.json())


def assert_flows_unchanged(saved: dict[str, Any]) -> None:
    from fabflow.flows.models import Flow, FlowVersion

    assert list(Flow.objects.values_list("name", "current_version")) == [(saved["name"], 1)]
    assert FlowVersion.objects.count() == 1


ENDPOINTS = ["create", "update", "validate"]
OVER_CAPS = [
    (stages(101), ["body", "definition"], "at most 100 stages; this flow has 101"),
    (stages(1, 201), ["body", "definition", 0, "taskDefinitions"],
     "at most 200 task definitions per stage; this stage has 201"),
    (stages(6, 180), ["body", "definition"],
     "at most 1000 task definitions in a flow; this flow has 1080"),
    # 106 bytes of JSON around the name
    ([{**stages(1)[0], "name": "n" * (1024 * 1024)}], ["body", "definition"],
     "at most 1048576 bytes as compact JSON; this flow has 1048682"),
]  # fmt: skip


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    ("definition", "loc", "msg"), OVER_CAPS, ids=["stages", "stage", "flow", "bytes"]
)
def test_a_definition_over_a_cap_is_422_naming_what_it_counts(
    api: ApiClient, saved_flow: dict[str, Any], endpoint: str, definition: Any, loc: Any, msg: str
) -> None:
    # given a definition over one cap / when sent to an endpoint taking definitions
    response = send_flow(
        api, endpoint, flow_body(endpoint, json.dumps(definition)), saved_flow["id"]
    )
    # then it is 422 with only that cap's error, and nothing is saved
    assert response.status_code == 422, response.content
    assert response.json()["errors"] == [{"loc": loc, "msg": msg}]
    assert_flows_unchanged(saved_flow)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_flow_body_over_its_limit_is_413_before_it_is_read(
    api: ApiClient, saved_flow: dict[str, Any], endpoint: str
) -> None:
    # given a definition body larger than a definition within the cap could be
    definition = json.dumps(stages(1)).replace('"S0"', '"' + "n" * FLOW_BODY_LIMIT + '"')
    # when sent / then 413 names the body, and nothing is saved
    response = send_flow(api, endpoint, flow_body(endpoint, definition), saved_flow["id"])
    assert response.status_code == 413, response.content[:300]
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["errors"] == [
        {"loc": ["body"], "msg": "this endpoint takes bodies of at most 2097152 bytes"}
    ]
    assert_flows_unchanged(saved_flow)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_duplicate_keys_in_a_definition_are_422_at_their_path(
    api: ApiClient, saved_flow: dict[str, Any], endpoint: str
) -> None:
    # given a task naming its handler twice (a JSON parser keeps the last one, silently)
    text = (
        '[{"key": "s", "name": "S", "taskDefinitions": [{"key": "a", "handlerKey": "send-email",'
        ' "handlerKey": "wait", "payload": {"durationMs": 1}}]}]'
    )
    # when sent / then 422 names the repeated key, and nothing is saved
    response = send_flow(api, endpoint, flow_body(endpoint, text), saved_flow["id"])
    assert response.status_code == 422, response.content
    assert response.json()["errors"] == [
        {"loc": ["body", "definition", 0, "taskDefinitions", 0, "handlerKey"],
         "msg": "duplicate key"}
    ]  # fmt: skip
    assert_flows_unchanged(saved_flow)


def test_a_next_entry_with_an_unhashable_trigger_is_422(api: ApiClient) -> None:
    # given a next entry whose trigger is a list / when validated / then 422, not 500
    task = {**wait_task("a"), "next": [{"taskDefinitionKey": "a", "trigger": ["success"]}]}
    definition = [{"key": "s", "name": "S", "taskDefinitions": [task]}]
    response = api.post("/api/v1/flows/validate", {"definition": definition})
    assert response.status_code == 422, response.content
    assert response.json()["errors"][0] == {
        "loc": ["body", "definition", 0, "taskDefinitions", 0, "next", 0, "trigger"],
        "msg": "Input should be 'success', 'failure' or 'timeout'",
    }


@pytest.mark.django_db(transaction=True)
def test_feedback_naming_a_part_by_something_else_than_an_id_is_422(
    api: ApiClient, tenant: Any, connector: Any
) -> None:
    # given a connector task waiting for feedback
    from fabflow.flows.models import TaskRun

    order = started(api, tenant, connector)
    part = Part.objects.get(order=order, name="band", product__name="Ring 0")
    events = OrderEvent.objects.filter(order=order).count()
    # when the feedback's manufacturingData is keyed by a part's name
    body = {"status": "success", "manufacturingData": {"band": {"printTimeS": 1161}}}
    response = feedback(api, order, body)
    # then 422 names the key, and nothing changed
    assert response.status_code == 422, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert [e["loc"][:3] for e in response.json()["errors"]] == [
        ["body", "manufacturingData", "band"]
    ]
    assert TaskRun.objects.get(order=order).state == "waiting"
    assert OrderEvent.objects.filter(order=order).count() == events
    part.refresh_from_db()
    assert part.manufacturing_data == {}
