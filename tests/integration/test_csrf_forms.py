"""CSRF on every web form: each route of the URL configuration, posted by a logged-in admin
without the token, is refused with 403 and changes nothing; the same post with the token
goes through (and, for a form that writes, writes).

A new route fails `test_every_web_route_is_in_the_table` until it has its row below.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.apps import apps
from django.contrib.sessions.models import Session
from django.db.models import Model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from fabflow.accounts.models import SecretKey, Space, TablePreference, User
from fabflow.accounts.services import create_user
from fabflow.connectors.models import Connection
from fabflow.connectors.services import create_connection
from fabflow.flows.engine.context import confirmation_token
from fabflow.flows.engine.runner import advance
from fabflow.flows.models import Flow, FlowInbox, FlowRun, FlowVersion, TaskRun
from fabflow.flows.services import create_flow
from fabflow.production.models import ModelVersion, ParametricModel
from fabflow.production.services import create_model
from tests.factories import ApiClient, Tenant, order_body

TOKEN = "f" * 32  # a CSRF cookie's secret; a form or header repeats it


@dataclass(frozen=True)
class World:
    """What the forms act on: each post has its own object, so one post's effect cannot make
    another's refusal look right."""

    admin: User
    waiting_order: str  # its manual task waits
    waiting_task: str
    failed_order: str  # its manual task failed
    failed_task: str
    confirm_path: str  # an asset-email task's confirmation page
    confirm_task: str  # another one's, that staff skip
    product: str
    part: str
    asset: str
    flow: str
    model: str
    other_user: int
    key: str
    space_key: str
    space: int
    definition: str
    connection: str


def _flow_order(api: ApiClient, tpo: str, flow: str) -> tuple[dict[str, Any], TaskRun]:
    asset = {"name": "a.stl", "contentBase64": "c29saWQ="}
    products = [{"name": "Ring", "assets": [asset], "parts": [{"name": "band"}]}]
    order = api.post("/api/v1/orders", order_body(tpo, flowKey=flow, products=products)).json()
    advance(str(FlowRun.objects.get(order_id=order["id"]).pk))
    return order, TaskRun.objects.get(order_id=order["id"])


@pytest.fixture
def world(api: ApiClient, tenant: Tenant) -> World:
    manual = {
        "key": "check",
        "handlerKey": "manual-task",
        "payload": {"title": "Check", "outcomes": ["ok", "no"], "failureOutcomes": ["no"]},
    }
    definition = [{"key": "s", "name": "Stage", "taskDefinitions": [manual]}]
    flow = create_flow(space=tenant.space, name="manual-flow", definition=definition)
    waiting, waiting_task = _flow_order(api, "W-1", flow.name)
    failed, failed_task = _flow_order(api, "F-1", flow.name)
    api.post(f"/api/v1/tasks/{failed_task.id}/complete", {"outcome": "no"})
    advance(str(failed_task.flow_run_id))
    failed_task.refresh_from_db()
    assert (waiting_task.state, failed_task.state) == ("waiting", "failed")
    mail = {
        "key": "files",
        "handlerKey": "asset-email",
        "payload": {"filter": r"\.stl$", "recipients": ["{customerEmail}"], "subject": "Files",
                    "body": "<a href='{confirmationUrl}'>Confirm</a>", "needConfirmation": True},
    }  # fmt: skip
    mail_stage = {"key": "s", "name": "Stage", "taskDefinitions": [mail]}
    create_flow(space=tenant.space, name="confirm-flow", definition=[mail_stage])
    _confirm_order, confirm_task = _flow_order(api, "C-1", "confirm-flow")
    _skip_order, skip_task = _flow_order(api, "C-2", "confirm-flow")
    assert confirm_task.state == skip_task.state == "waiting"
    admin = create_user(
        organization=tenant.org, email="boss@acme.test", password="x-pass-1234", admin=True
    )
    other = create_user(organization=tenant.org, email="mia@acme.test", password="x-pass-1234")
    connection = create_connection(
        space=tenant.space, name="siteflow", kind="3yourmind", base_url="https://x.example",
        credentials={"token": "t-1234"},
    )  # fmt: skip
    model = create_model(space=tenant.space, name="cube", kind="openscad", source="cube(1);")
    return World(
        admin=admin,
        waiting_order=waiting["id"],
        waiting_task=str(waiting_task.id),
        failed_order=failed["id"],
        failed_task=str(failed_task.id),
        confirm_path=f"/confirm/{confirmation_token(str(confirm_task.id))}",
        confirm_task=str(skip_task.id),
        product=waiting["products"][0]["id"],
        part=waiting["products"][0]["parts"][0]["id"],
        asset=waiting["products"][0]["assets"][0]["id"],
        flow=str(flow.id),
        model=str(model.version.model_id),
        other_user=other.pk,
        key=str(tenant.key.id),
        space_key=tenant.space.key,
        space=tenant.space.pk,
        definition=json.dumps(definition),
        connection=str(connection.id),
    )


@dataclass(frozen=True)
class Post:
    path: str
    form: dict[str, Any] = field(default_factory=dict)
    body: str | None = None  # a raw body (the editor's preview) instead of a form
    writes: type[Model] | None = None  # with the token, the post changes this model's rows


Posts = Callable[[World], list[Post]]

FORMS: dict[str, Posts | str] = {
    # Pages: no form posts here, but a post without the token is refused all the same.
    "": lambda w: [Post("/")],
    "favicon.ico": lambda w: [Post("/favicon.ico")],
    "password/done": lambda w: [Post("/password/done")],
    "orders": lambda w: [Post("/orders")],
    "orders/<uuid:order_id>": lambda w: [Post(f"/orders/{w.waiting_order}")],
    "orders/<uuid:order_id>/files.zip": lambda w: [
        Post(f"/orders/{w.waiting_order}/files.zip"),
    ],
    "products": lambda w: [Post("/products")],
    "products/<uuid:product_id>": lambda w: [Post(f"/products/{w.product}")],
    "parts": lambda w: [Post("/parts")],
    "parts/<uuid:part_id>": lambda w: [Post(f"/parts/{w.part}")],
    "files/<uuid:asset_id>": lambda w: [Post(f"/files/{w.asset}")],
    # The forms.
    "login": lambda w: [  # a logged-in user is sent on: nothing to write
        Post("/login", {"username": "boss@acme.test", "password": "x-pass-1234"}),
    ],
    "logout": lambda w: [Post("/logout", writes=Session)],
    "password": lambda w: [
        Post("/password", {"old_password": "x-pass-1234", "new_password1": "n3w-Pass-9876!",
                           "new_password2": "n3w-Pass-9876!"}, writes=User),
    ],
    "orders/<uuid:order_id>/<str:action>": lambda w: [
        Post(f"/orders/{w.waiting_order}/complete", {"task": w.waiting_task, "outcome": "ok"},
             writes=FlowInbox),
        Post(f"/orders/{w.failed_order}/retry", {"task": w.failed_task}, writes=FlowInbox),
        Post(f"/orders/{w.waiting_order}/restart", writes=FlowInbox),
    ],
    "tables/<str:name>/columns": lambda w: [
        Post("/tables/orders/columns", {"visible": ["order"], "next": "/orders"},
             writes=TablePreference),
    ],
    "export/<str:name>.<str:kind>": lambda w: [  # reads, but a post all the same
        Post("/export/orders.csv", {"ids": [w.waiting_order]}),
    ],
    "flows": lambda w: [Post("/flows", {"name": "forged flow", "space": w.space_key},
                            writes=Flow)],
    "flows/preview": lambda w: [Post("/flows/preview", body=w.definition)],
    "flows/<uuid:flow_id>": lambda w: [Post(f"/flows/{w.flow}", {"definition": w.definition},
                                           writes=FlowVersion)],
    "models": lambda w: [Post("/models", {"space": w.space_key, "name": "forged",
                                          "kind": "openscad", "source": "a = 1;"},
                              writes=ParametricModel)],
    "models/<uuid:model_id>": lambda w: [Post(f"/models/{w.model}", {"source": "a = 2;"},
                                             writes=ModelVersion)],
    "models/<uuid:model_id>/preview": lambda w: [Post(f"/models/{w.model}/preview")],
    "users": lambda w: [
        Post("/users", {"invite-email": "eve@acme.test", "invite-role": "admin",
                        "invite-tags": ""}, writes=User),
    ],
    "users/<int:user_id>": lambda w: [
        Post(f"/users/{w.other_user}", {"role": "admin", "tags": "forged"}, writes=User),
    ],
    "users/<int:user_id>/active": lambda w: [
        Post(f"/users/{w.other_user}/active", {"active": "0"}, writes=User),
    ],
    "keys": lambda w: [Post("/keys", {"space": w.space, "name": "forged key"},
                            writes=SecretKey)],
    "keys/<uuid:key_id>/revoke": lambda w: [Post(f"/keys/{w.key}/revoke", writes=SecretKey)],
    "time-zone": lambda w: [Post("/time-zone", {"time_zone": "Europe/Berlin"}, writes=User)],
    "spaces/<uuid:space_id>/signing-secret": lambda w: [Post(f"/spaces/{w.space}/signing-secret")],
    "spaces/<uuid:space_id>/signing-secret/rotate": lambda w: [
        Post(f"/spaces/{w.space}/signing-secret/rotate", writes=Space),
    ],
    "connections": lambda w: [
        Post("/connections", {"space": w.space_key, "name": "forged", "kind": "3yourmind",
             "base_url": "https://x.example", "credential-token": "t"}, writes=Connection),
    ],
    "connections/credentials": lambda w: [Post("/connections/credentials")],
    "connections/<uuid:connection_id>": lambda w: [
        Post(f"/connections/{w.connection}", {"name": "renamed", "base_url": "https://x.example"},
             writes=Connection),
    ],
    "connections/<uuid:connection_id>/test": lambda w: [Post(f"/connections/{w.connection}/test")],
    "confirm/<str:token>": lambda w: [Post(w.confirm_path, writes=FlowInbox)],
    "tasks": lambda w: [Post("/tasks")],
    "tasks/count": lambda w: [Post("/tasks/count")],
    "tasks/<uuid:task_id>/<str:action>": lambda w: [
        Post(f"/tasks/{w.confirm_task}/skip", {"reason": "phoned"}, writes=FlowInbox),
    ],
    # Not authenticated by the session cookie: exempt from CSRF by design (EXEMPT), or
    # checked by the API itself.
    "demo/connector": "signed with the space's webhook secret (Standard Webhooks), no cookie",
    "demo/siteflow/<path:path>": "signed with a connection's key (Site Flow's HMAC), no cookie",
    "api/": "the API: a session's write without the token is 403 (test_tenancy.py)",
    "admin/": lambda w: [  # not staff: the form is shown again
        Post("/admin/login/", {"username": "boss@acme.test", "password": "x-pass-1234"}),
    ],
}  # fmt: skip
EXEMPT = {"demo/connector", "demo/siteflow/<path:path>"}


def web_routes() -> dict[str, URLPattern | URLResolver]:
    return {
        str(entry.pattern): entry
        for entry in get_resolver().url_patterns
        if isinstance(entry, URLPattern | URLResolver)
    }


def test_every_web_route_is_in_the_table() -> None:
    # given the URL configuration / then every route has its row, and only those in EXEMPT
    # skip the CSRF check
    assert sorted(web_routes()) == sorted(FORMS)
    exempt = {
        route
        for route, entry in web_routes().items()
        if isinstance(entry, URLPattern) and getattr(entry.callback, "csrf_exempt", False)
    }
    assert exempt == EXEMPT


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table Django knows, sessions and logins included."""
    return {
        model._meta.db_table: list(model._base_manager.order_by("pk").values_list())
        for model in apps.get_models(include_auto_created=True)
    }


def send(client: Client, post: Post, token: str | None) -> Any:
    headers = {"X-CSRFToken": token} if token else {}
    if post.body is not None:
        return client.post(post.path, post.body, content_type="text/plain", headers=headers)
    return client.post(post.path, post.form, headers=headers)


def test_every_post_without_the_csrf_token_is_403_and_changes_nothing(world: World) -> None:
    problems = []
    for route, posts in sorted(FORMS.items()):
        if isinstance(posts, str):
            continue
        for post in posts(world):
            # given a logged-in admin whose browser holds a CSRF cookie
            client = Client(enforce_csrf_checks=True)
            client.force_login(User.objects.get(pk=world.admin.pk))  # its password may change
            client.cookies["csrftoken"] = TOKEN
            before = snapshot()
            # when a form is posted without the token
            refused = send(client, post, token=None)
            # then it is refused and nothing changed
            if refused.status_code != 403:
                problems.append(f"{post.path}: {refused.status_code} without the token")
            after = snapshot()
            problems += [f"{post.path}: changed {t}" for t in before if before[t] != after[t]]
            # and with the token the same post passes the check (and writes, if it is a form)
            accepted = send(client, post, token=TOKEN)
            if accepted.status_code == 403:
                problems.append(f"{post.path} ({route}): 403 with the token")
            if accepted.get("Location", "").startswith("/login") and post.path != "/logout":
                problems.append(f"{post.path}: logged out")  # the check above would be moot
            changed = [t for t, rows in snapshot().items() if rows != after[t]]
            if post.writes is not None and post.writes._meta.db_table not in changed:
                problems.append(f"{post.path}: with the token, changed only {changed}")
    assert not problems, "\n" + "\n".join(problems)
