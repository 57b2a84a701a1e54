"""Every API and web route, called by another tenant with this tenant's ids: each answers 404
(or its documented answer), shows nothing of this tenant, and changes nothing.

The routes are listed from the URL configuration and the API's routers: a new route that is
not in the tables below fails `test_every_route_is_in_the_matrix` until it is added.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from fabflow.accounts.models import SecretKey, Space, User
from fabflow.accounts.services import create_secret_key, create_space, create_user
from fabflow.connectors.models import Connection
from fabflow.connectors.services import create_connection
from fabflow.flows.engine.runner import advance
from fabflow.flows.models import Flow, FlowInbox, FlowRun, FlowVersion, TaskRun
from fabflow.flows.services import create_flow
from fabflow.orders.models import Asset, Order, OrderEvent, Part, Product
from fabflow.production.models import ModelVersion, ParametricModel
from fabflow.production.services import create_model
from tests.factories import ApiClient, Tenant, order_body

SECRET = "acme-secret"  # in every name of the victim's objects: any page showing it leaks
SEARCH = SECRET[1:-1]  # finds the victim's objects; a page echoing it shows no SECRET


@dataclass(frozen=True)
class Victim:
    """The objects of one tenant (Acme) that another tenant tries to reach."""

    order: str  # started: its manual task waits
    created_order: str  # still in Created
    product: str
    part: str
    asset: str
    flow: str
    model: str
    task: str
    user: int
    key: str
    space_key: str
    space: str
    connection: str


@pytest.fixture
def victim(api: ApiClient, tenant: Tenant) -> Victim:
    task = {"key": "check", "handlerKey": "manual-task", "payload": {"title": "Check"}}
    definition = [{"key": "s", "name": "S", "taskDefinitions": [task]}]
    flow = create_flow(space=tenant.space, name=f"{SECRET}-flow", definition=definition)
    asset = {"name": f"{SECRET}.stl", "contentBase64": base64.b64encode(b"solid").decode()}
    products = [
        {"name": f"{SECRET} ring", "assets": [asset], "parts": [{"name": f"{SECRET} band"}]}
    ]
    body = order_body(f"{SECRET}-1", products=products, flowKey=flow.name)
    order = api.post("/api/v1/orders", body).json()
    advance(str(FlowRun.objects.get(order_id=order["id"]).pk))
    created = api.post("/api/v1/orders", order_body(f"{SECRET}-2")).json()
    boss = create_user(
        organization=tenant.org, email="boss@acme.test", password="x-pass-1234", admin=True
    )
    connection = create_connection(
        space=tenant.space, name=f"{SECRET}-siteflow", kind="hp-siteflow",
        base_url=f"https://{SECRET}.example", credentials={"key": SECRET, "secret": SECRET},
    )  # fmt: skip
    product = order["products"][0]
    model = create_model(
        space=tenant.space, name=f"{SECRET}-model", kind="openscad", source="cube(1);"
    )
    return Victim(
        order=order["id"],
        created_order=created["id"],
        product=product["id"],
        part=product["parts"][0]["id"],
        asset=product["assets"][0]["id"],
        flow=str(flow.id),
        model=str(model.version.model_id),
        task=str(TaskRun.objects.get(order_id=order["id"], state="waiting").id),
        user=boss.pk,
        key=str(tenant.key.id),
        space_key=tenant.space.key,
        space=str(tenant.space.id),
        connection=str(connection.id),
    )


# --- What "changes nothing" means: every row a route could write, compared before and after.

WATCHED: list[tuple[type[Any], tuple[str, ...]]] = [
    (Order, ()), (Product, ()), (Part, ()), (Asset, ()), (OrderEvent, ()), (Flow, ()),
    (FlowVersion, ()), (FlowRun, ()), (TaskRun, ()), (FlowInbox, ()),
    (ParametricModel, ()), (ModelVersion, ()),
    (SecretKey, ("last_used_at",)),  # the caller's own key records its use
    (User, ("last_login",)), (Space, ()), (Connection, ()),
]  # fmt: skip


def snapshot() -> dict[str, list[dict[str, Any]]]:
    state = {}
    for model, ignored in WATCHED:
        rows = model.objects.order_by("pk").values()
        state[model.__name__] = [{k: v for k, v in r.items() if k not in ignored} for r in rows]
    return state


# --- The calls: one or more per route, with the victim's ids filled in.


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    json: Any = None  # a JSON body
    form: dict[str, Any] | None = None  # a form (web) or multipart (API upload) body
    query: dict[str, str] = field(default_factory=dict)
    status: int = 404
    session_status: int | None = None  # where a session's documented answer differs
    empty_list: bool = False  # a 200 list that must hold nothing


Calls = Callable[[Victim], list[Call]]
NO_TENANT_IDS = "takes no tenant's ids"


def _upload() -> dict[str, Any]:
    return {"file": SimpleUploadedFile("x.stl", b"x")}


API: dict[tuple[str, str], Calls | str] = {
    ("GET", "/api/v1/health"): NO_TENANT_IDS,
    ("POST", "/api/v1/feedback/{token}"): "signed link: its token is the credential",
    ("POST", "/api/v1/connectors/siteflow/postback/{token}"): "signed link: its token is the "
    "credential",
    ("GET", "/api/v1/flows/schema"): NO_TENANT_IDS,
    ("POST", "/api/v1/flows/validate"): NO_TENANT_IDS,
    ("GET", "/api/v1/production/profiles"): NO_TENANT_IDS,  # the machine's installed printers
    # Naming another space: a key is told it is not its space; a user is told it is unknown.
    ("POST", "/api/v1/orders"): lambda v: [
        Call("POST", "/api/v1/orders", json=order_body("X-1", spaceKey=v.space_key),
             status=403, session_status=422),
    ],
    ("GET", "/api/v1/orders"): lambda v: [
        Call("GET", "/api/v1/orders", status=200, empty_list=True),
        Call("GET", "/api/v1/orders", query={"q": SEARCH}, status=200, empty_list=True),
    ],
    ("GET", "/api/v1/orders/{order_id}"): lambda v: [Call("GET", f"/api/v1/orders/{v.order}")],
    ("GET", "/api/v1/orders/{order_id}/events"): lambda v: [
        Call("GET", f"/api/v1/orders/{v.order}/events"),
    ],
    ("POST", "/api/v1/orders/{order_id}/assets"): lambda v: [
        Call("POST", f"/api/v1/orders/{v.order}/assets", form=_upload()),
    ],
    ("POST", "/api/v1/orders/{order_id}/start"): lambda v: [
        Call("POST", f"/api/v1/orders/{v.created_order}/start", json={}),
        Call("POST", f"/api/v1/orders/{v.created_order}/start", json={"flowKey": f"{SECRET}-flow"}),
    ],
    ("POST", "/api/v1/orders/{order_id}/restart"): lambda v: [
        Call("POST", f"/api/v1/orders/{v.order}/restart", json={}),
    ],
    ("GET", "/api/v1/products"): lambda v: [
        Call("GET", "/api/v1/products", status=200, empty_list=True),
        Call("GET", "/api/v1/products", query={"orderId": v.order}, status=200, empty_list=True),
    ],
    ("GET", "/api/v1/products/{product_id}"): lambda v: [
        Call("GET", f"/api/v1/products/{v.product}"),
    ],
    ("GET", "/api/v1/parts"): lambda v: [
        Call("GET", "/api/v1/parts", status=200, empty_list=True),
        Call("GET", "/api/v1/parts", query={"productId": v.product}, status=200, empty_list=True),
    ],
    ("GET", "/api/v1/parts/{part_id}"): lambda v: [Call("GET", f"/api/v1/parts/{v.part}")],
    ("GET", "/api/v1/assets/{asset_id}/download"): lambda v: [
        Call("GET", f"/api/v1/assets/{v.asset}/download"),
    ],
    ("GET", "/api/v1/flows"): lambda v: [
        Call("GET", "/api/v1/flows", status=200, empty_list=True),
    ],
    ("POST", "/api/v1/flows"): lambda v: [
        Call("POST", "/api/v1/flows", json={"spaceKey": v.space_key, "name": "stolen-flow",
             "definition": FlowVersion.objects.get(flow_id=v.flow).definition},
             status=403, session_status=422),
    ],
    ("GET", "/api/v1/flows/{flow_id}"): lambda v: [Call("GET", f"/api/v1/flows/{v.flow}")],
    ("PUT", "/api/v1/flows/{flow_id}"): lambda v: [
        Call("PUT", f"/api/v1/flows/{v.flow}",
             json={"definition": FlowVersion.objects.get(flow_id=v.flow).definition}),
    ],
    ("GET", "/api/v1/models"): lambda v: [
        Call("GET", "/api/v1/models", status=200, empty_list=True),
        Call("GET", "/api/v1/models", query={"spaceKey": v.space_key}, status=403,
             session_status=422),
    ],
    ("POST", "/api/v1/models"): lambda v: [
        Call("POST", "/api/v1/models", json={"spaceKey": v.space_key, "name": "stolen",
             "kind": "openscad", "source": "cube(1);"}, status=403, session_status=422),
    ],
    ("GET", "/api/v1/models/{model_id}"): lambda v: [Call("GET", f"/api/v1/models/{v.model}")],
    ("PUT", "/api/v1/models/{model_id}"): lambda v: [
        Call("PUT", f"/api/v1/models/{v.model}", json={"source": "cube(2);"}),
    ],
    ("POST", "/api/v1/models/{model_id}/preview"): lambda v: [
        Call("POST", f"/api/v1/models/{v.model}/preview", json={"configuration": {}}),
    ],
    ("GET", "/api/v1/tasks"): lambda v: [
        Call("GET", "/api/v1/tasks", status=200, empty_list=True),
        Call("GET", "/api/v1/tasks", query={"orderId": v.order}, status=200, empty_list=True),
    ],
    ("POST", "/api/v1/tasks/{task_id}/complete"): lambda v: [
        Call("POST", f"/api/v1/tasks/{v.task}/complete", json={"outcome": "done"}),
    ],
    ("POST", "/api/v1/tasks/{task_id}/retry"): lambda v: [
        Call("POST", f"/api/v1/tasks/{v.task}/retry", json={}),
    ],
    ("POST", "/api/v1/tasks/{task_id}/confirm"): lambda v: [
        Call("POST", f"/api/v1/tasks/{v.task}/confirm", json={"reason": "stolen"}),
    ],
    ("POST", "/api/v1/tasks/{task_id}/skip"): lambda v: [
        Call("POST", f"/api/v1/tasks/{v.task}/skip", json={"reason": "stolen"}),
    ],
    ("GET", "/api/v1/connections"): lambda v: [
        Call("GET", "/api/v1/connections", status=200, empty_list=True),
        Call("GET", "/api/v1/connections", query={"spaceKey": v.space_key},
             status=403, session_status=422),
    ],
    ("POST", "/api/v1/connections"): lambda v: [
        Call("POST", "/api/v1/connections", json={"spaceKey": v.space_key, "name": "stolen",
             "kind": "3yourmind", "baseUrl": "https://x.example", "credentials": {"token": "t"}},
             status=403, session_status=422),
    ],
    ("GET", "/api/v1/connections/{connection_id}"): lambda v: [
        Call("GET", f"/api/v1/connections/{v.connection}"),
    ],
    ("PUT", "/api/v1/connections/{connection_id}"): lambda v: [
        Call("PUT", f"/api/v1/connections/{v.connection}", json={"baseUrl": "https://x.example"}),
    ],
    ("POST", "/api/v1/connections/{connection_id}/test"): lambda v: [
        Call("POST", f"/api/v1/connections/{v.connection}/test", json={}),
    ],
}  # fmt: skip


def _ids(kind: str, v: Victim) -> list[str]:
    return {"orders": [v.order, v.created_order], "products": [v.product], "parts": [v.part]}[kind]


def _exports(v: Victim) -> list[Call]:
    from fabflow.orders.tables import TABLES

    return [
        Call("POST", f"/export/{name}.{kind}", form={"ids": _ids(name, v)}, status=200)
        for name, table in TABLES.items()
        for kind in table.exports
    ]


WEB: dict[str, Calls | str] = {
    "": NO_TENANT_IDS,
    "favicon.ico": NO_TENANT_IDS,
    "login": NO_TENANT_IDS,
    "logout": NO_TENANT_IDS,
    "password": NO_TENANT_IDS,
    "password/done": NO_TENANT_IDS,
    "flows/preview": NO_TENANT_IDS,
    "tables/<str:name>/columns": "the caller's own column choices",
    "confirm/<str:token>": "signed link: its token is the credential",
    "demo/connector": NO_TENANT_IDS,
    "demo/siteflow/<path:path>": NO_TENANT_IDS,
    "api/": "the API: walked route by route above",
    "admin/": "the Django admin: staff only",
    "orders": lambda v: [Call("GET", "/orders", status=200), Call("GET", "/orders",
                         query={"q": SEARCH}, status=200)],
    "orders/<uuid:order_id>": lambda v: [Call("GET", f"/orders/{v.order}")],
    "orders/<uuid:order_id>/files.zip": lambda v: [Call("GET", f"/orders/{v.order}/files.zip")],
    "orders/<uuid:order_id>/<str:action>": lambda v: [
        Call("POST", f"/orders/{v.order}/complete", form={"task": v.task, "outcome": "done"}),
        Call("POST", f"/orders/{v.order}/retry", form={"task": v.task}),
        Call("POST", f"/orders/{v.order}/restart", form={}),
        Call("POST", f"/orders/{v.created_order}/start", form={"flow": f"{SECRET}-flow"}),
    ],
    "tasks": lambda v: [
        Call("GET", "/tasks", status=200),
        Call("GET", "/tasks", query={"mine": "1"}, status=200),
    ],
    "tasks/count": lambda v: [Call("GET", "/tasks/count", status=200)],
    "tasks/<uuid:task_id>/<str:action>": lambda v: [
        Call("POST", f"/tasks/{v.task}/complete", form={"outcome": "done"}),
        Call("POST", f"/tasks/{v.task}/skip", form={"reason": "stolen"}),
    ],
    "products": lambda v: [Call("GET", "/products", status=200)],
    "products/<uuid:product_id>": lambda v: [Call("GET", f"/products/{v.product}")],
    "parts": lambda v: [Call("GET", "/parts", status=200)],
    "parts/<uuid:part_id>": lambda v: [Call("GET", f"/parts/{v.part}")],
    "files/<uuid:asset_id>": lambda v: [Call("GET", f"/files/{v.asset}")],
    "export/<str:name>.<str:kind>": _exports,
    # A flow for another organization's space is refused back to the list (302), unsaved.
    "flows": lambda v: [
        Call("GET", "/flows", status=200),
        Call("POST", "/flows", form={"name": "stolen-flow", "space": v.space_key}, status=302),
    ],
    "flows/<uuid:flow_id>": lambda v: [
        Call("GET", f"/flows/{v.flow}"),
        Call("POST", f"/flows/{v.flow}", form={"definition": "[]"}),
    ],
    # A model for another organization's space is refused in the form (422), unsaved.
    "models": lambda v: [
        Call("GET", "/models", status=200),
        Call("POST", "/models", form={"name": "stolen", "space": v.space_key,
             "kind": "openscad", "source": "cube(1);"}, status=422),
    ],
    "models/<uuid:model_id>": lambda v: [
        Call("GET", f"/models/{v.model}"),
        Call("POST", f"/models/{v.model}", form={"source": "cube(2);"}),
    ],
    "models/<uuid:model_id>/preview": lambda v: [
        Call("POST", f"/models/{v.model}/preview", form={}),
    ],
    "users": lambda v: [Call("GET", "/users", status=200)],
    "users/<int:user_id>": lambda v: [
        Call("POST", f"/users/{v.user}", form={"role": "member", "tags": "x"}),
    ],
    "users/<int:user_id>/active": lambda v: [
        Call("GET", f"/users/{v.user}/active"),
        Call("POST", f"/users/{v.user}/active", form={"active": "0"}),
    ],
    "time-zone": "the caller's own time zone, or their organization's",
    "keys": lambda v: [Call("GET", "/keys", status=200)],
    "keys/<uuid:key_id>/revoke": lambda v: [
        Call("GET", f"/keys/{v.key}/revoke"),
        Call("POST", f"/keys/{v.key}/revoke", form={}),
    ],
    "connections": lambda v: [
        Call("GET", "/connections", status=200),
        Call("POST", "/connections", form={"space": v.space_key, "name": "stolen",
             "kind": "3yourmind", "base_url": "https://x.example", "credential-token": "t"},
             status=200),  # the form again: the space is not one of theirs
    ],
    "connections/credentials": NO_TENANT_IDS,
    "connections/<uuid:connection_id>": lambda v: [
        Call("GET", f"/connections/{v.connection}"),
        Call("POST", f"/connections/{v.connection}", form={"name": "x", "base_url": "https://x.example"}),
    ],
    "connections/<uuid:connection_id>/test": lambda v: [
        Call("POST", f"/connections/{v.connection}/test", form={}),
    ],
    "spaces/<uuid:space_id>/signing-secret": lambda v: [
        Call("POST", f"/spaces/{v.space}/signing-secret", form={}),
    ],
    "spaces/<uuid:space_id>/signing-secret/rotate": lambda v: [
        Call("GET", f"/spaces/{v.space}/signing-secret/rotate"),
        Call("POST", f"/spaces/{v.space}/signing-secret/rotate", form={}),
    ],
}  # fmt: skip


# --- The routes, as the URL configuration and the API's routers list them.


def api_routes() -> set[tuple[str, str]]:
    from ninja.utils import normalize_path

    from fabflow.api import api

    return {
        (method, normalize_path("/".join(["/api", prefix, route])))
        for prefix, router in api._routers
        for route, view in router.path_operations.items()
        for operation in view.operations
        for method in operation.methods
    }


def web_routes() -> set[str]:
    return {
        str(entry.pattern)
        for entry in get_resolver().url_patterns
        if isinstance(entry, URLPattern | URLResolver)
    }


def test_every_route_is_in_the_matrix() -> None:
    # given the routes the application serves / then each one has its row in the matrix
    assert sorted(api_routes()) == sorted(API)
    assert sorted(web_routes()) == sorted(WEB)


# --- Walking the matrix.


def send(client: Client, call: Call, headers: dict[str, str]) -> Any:
    path = call.path
    if call.method == "GET":
        return client.get(path, call.query, headers=headers)
    if call.form is not None:
        return client.post(path, call.form, headers=headers)
    write = client.put if call.method == "PUT" else client.post
    body = json.dumps(call.json)
    return write(path, body, content_type="application/json", headers=headers)


def shown(response: Any) -> str:
    """Everything a response shows, archives opened (their members are compressed)."""
    content = b"".join(response.streaming_content) if response.streaming else response.content
    if response.get("Content-Type") == "application/zip":
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            parts = [f"{n}\n{archive.read(n).decode()}" for n in archive.namelist()]
        return "\n".join(parts)
    return content.decode(errors="replace")


def walk(
    table: dict[Any, Calls | str],
    victim: Victim,
    client: Client,
    headers: dict[str, str],
    *,
    session: bool,
    never_shown: list[str],
) -> list[str]:
    """Every way a call of the table went wrong: its status, a leak, or a change."""
    problems = []
    for _route, calls in sorted(table.items()):
        if isinstance(calls, str):
            continue
        for call in calls(victim):
            before = snapshot()
            response = send(client, call, headers)
            name = f"{call.method} {call.path} {call.query or ''}"
            expected = call.session_status if session and call.session_status else call.status
            if response.status_code != expected:
                problems.append(f"{name}: {response.status_code}, expected {expected}")
            text = shown(response).lower()
            problems += [f"{name}: shows {word!r}" for word in never_shown if word in text]
            if call.empty_list and response.json().get("items") != []:
                problems.append(f"{name}: lists {response.json().get('items')}")
            after = snapshot()
            changed = [table for table in before if before[table] != after[table]]
            problems += [f"{name}: changed {table}" for table in changed]
    return problems


@pytest.fixture
def never_shown(victim: Victim, tenant: Tenant) -> list[str]:
    return [SECRET, "boss@acme.test", tenant.key.prefix, tenant.space.signing_secret.lower()]


@pytest.mark.parametrize("caller", ["other-organization-key", "sibling-space-key", "other-user"])
def test_the_api_answers_another_tenants_ids_with_404_and_changes_nothing(
    victim: Victim, tenant: Tenant, other_tenant: Tenant, never_shown: list[str], caller: str
) -> None:
    # given a caller of another organization, or of another space of the same organization
    client, headers = Client(), {}
    if caller == "other-organization-key":
        headers = {"Authorization": f"Bearer {other_tenant.secret}"}
    elif caller == "sibling-space-key":
        sibling = create_space(organization=tenant.org, key="acme-braces")
        headers = {"Authorization": f"Bearer {create_secret_key(space=sibling)[1]}"}
    else:
        client.force_login(create_user(
            organization=other_tenant.org, email="eve@globex.test", password="pw", admin=True
        ))  # fmt: skip
    # when it calls every API route with the victim's ids / then none answers otherwise
    session = caller == "other-user"
    problems = walk(API, victim, client, headers, session=session, never_shown=never_shown)
    assert not problems, "\n" + "\n".join(problems)


def test_the_web_answers_another_tenants_ids_with_404_and_changes_nothing(
    victim: Victim, other_tenant: Tenant, never_shown: list[str]
) -> None:
    # given an admin of another organization, logged in
    client = Client()
    client.force_login(
        create_user(
            organization=other_tenant.org, email="eve@globex.test", password="pw", admin=True
        )
    )
    # when they call every web route with the victim's ids / then none answers otherwise
    problems = walk(WEB, victim, client, {}, session=True, never_shown=never_shown)
    assert not problems, "\n" + "\n".join(problems)
