"""A space's webhook signing secret: deliveries verify with it (and, during the grace period
after a rotation, with the previous one too); admins alone reveal and rotate it."""

from __future__ import annotations

import io
import logging
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from pytest_httpserver import HTTPServer
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from werkzeug import Request

from fabflow.accounts.models import Space, User
from fabflow.accounts.services import create_user, rotate_signing_secret
from fabflow.flows.engine.runner import advance
from fabflow.flows.handlers.builtin import ConsumeRestApi
from fabflow.flows.models import FlowRun
from fabflow.flows.services import create_flow
from fabflow.orders.models import UpdateDelivery
from fabflow.orders.updates import deliver_update
from tests.factories import ApiClient, Tenant, order_body
from tests.integration.test_handlers import create_order, make_ctx

MANUAL = {"key": "check", "handlerKey": "manual-task", "payload": {"title": "Check"}}


@pytest.fixture
def receiver(httpserver: HTTPServer, settings: Any) -> HTTPServer:
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    httpserver.expect_request("/updates", method="POST").respond_with_data("ok")
    return httpserver


@pytest.fixture
def delivery(api: ApiClient, tenant: Tenant, receiver: HTTPServer) -> UpdateDelivery:
    """A pending update (created -> in_progress) of an order for the receiver."""
    definition = [{"key": "s", "name": "S", "taskDefinitions": [MANUAL]}]
    create_flow(space=tenant.space, name="f", definition=definition)
    body = order_body(flowKey="f", updateUrl=receiver.url_for("/updates"))
    order = api.post("/api/v1/orders", body).json()
    advance(str(FlowRun.objects.get(order_id=order["id"]).pk))
    return UpdateDelivery.objects.get()


def deliver(delivery: UpdateDelivery, receiver: HTTPServer) -> Request:
    """Post the delivery (again) and return what the receiver got."""
    UpdateDelivery.objects.filter(pk=delivery.pk).update(state="pending")
    assert deliver_update.call(str(delivery.pk)) == "delivered"
    return receiver.log[-1][0]


def verifies(secret: str, request: Request) -> bool:
    try:
        Webhook(secret).verify(request.get_data(), dict(request.headers))
    except WebhookVerificationError:
        return False
    return True


def test_an_update_verifies_with_the_current_secret_only(
    delivery: UpdateDelivery, receiver: HTTPServer, tenant: Tenant
) -> None:
    # when the update is delivered
    request = deliver(delivery, receiver)
    # then it carries one signature, made with the space's secret
    assert len(request.headers["webhook-signature"].split(" ")) == 1
    assert verifies(tenant.space.signing_secret, request)
    assert not verifies(Space().signing_secret, request)


def test_during_the_grace_period_an_update_verifies_with_the_old_and_the_new_secret(
    delivery: UpdateDelivery, receiver: HTTPServer, tenant: Tenant
) -> None:
    # given the secret rotated a moment ago
    old = tenant.space.signing_secret
    new = rotate_signing_secret(space=tenant.space).signing_secret
    # when the update is delivered
    request = deliver(delivery, receiver)
    # then receivers holding either secret accept it
    assert new != old
    assert request.headers["webhook-signature"].count("v1,") == 2
    assert verifies(old, request)
    assert verifies(new, request)


def test_after_the_grace_period_only_the_new_secret_verifies(
    delivery: UpdateDelivery, receiver: HTTPServer, tenant: Tenant, settings: Any
) -> None:
    # given a rotation longer ago than the grace period
    settings.FABFLOW_SIGNING_SECRET_GRACE_SECONDS = 3600
    old = tenant.space.signing_secret
    space = rotate_signing_secret(space=tenant.space)
    rotated = timezone.now() - timedelta(seconds=3601)
    Space.objects.filter(pk=space.pk).update(signing_secret_rotated_at=rotated)
    # when the update is delivered
    request = deliver(delivery, receiver)
    # then only the new secret verifies it
    assert verifies(space.signing_secret, request)
    assert not verifies(old, request)


def test_a_connector_call_during_the_grace_period_verifies_with_both_secrets(
    api: ApiClient, tenant: Tenant, httpserver: HTTPServer, settings: Any
) -> None:
    # given a connector, and the space's secret rotated
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    order = create_order(api)
    old = tenant.space.signing_secret
    new = rotate_signing_secret(space=tenant.space).signing_secret
    # when a consume-rest-api task calls it
    payload = {"uri": httpserver.url_for("/hook"), "method": "POST"}
    ConsumeRestApi().run(make_ctx(ConsumeRestApi(), order, payload))
    # then the call verifies with the old and the new secret
    request = httpserver.log[-1][0]
    assert verifies(old, request) and verifies(new, request)


# --- Revealing and rotating: admins of the space's organization only.


@pytest.fixture
def admin(tenant: Tenant) -> User:
    return create_user(organization=tenant.org, email="boss@acme.test", password="pw", admin=True)


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_keys_page_shows_no_signing_secret_until_an_admin_reveals_it(
    admin: User, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    client = logged_in(admin)
    secret = tenant.space.signing_secret
    # given the keys page / then the secret is not on it
    assert secret not in client.get("/keys").content.decode()
    # when the admin asks to reveal it
    with caplog.at_level(logging.INFO, logger="fabflow.audit"):
        response = client.post(f"/spaces/{tenant.space.pk}/signing-secret")
    # then it is shown, not cached, and the reveal is in the audit log
    assert response.status_code == 200
    assert response.content.decode().count(f'<code id="signing-secret">{secret}</code>') == 1
    assert "no-store" in response["Cache-Control"]
    assert [r.getMessage() for r in caplog.records if r.name == "fabflow.audit"] == [
        "signing secret of space acme-rings shown to boss@acme.test"
    ]


def test_a_member_can_neither_reveal_nor_rotate_the_signing_secret(
    member: User, tenant: Tenant
) -> None:
    client = logged_in(member)
    assert client.post(f"/spaces/{tenant.space.pk}/signing-secret").status_code == 403
    assert client.post(f"/spaces/{tenant.space.pk}/signing-secret/rotate").status_code == 403
    assert Space.objects.get(pk=tenant.space.pk).signing_secret == tenant.space.signing_secret


def test_another_organizations_admin_cannot_reveal_the_signing_secret(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    eve = create_user(organization=other_tenant.org, email="eve@g.test", password="pw", admin=True)
    response = logged_in(eve).post(f"/spaces/{tenant.space.pk}/signing-secret")
    assert response.status_code == 404
    assert tenant.space.signing_secret not in response.content.decode()


def test_rotating_on_the_keys_page_asks_first_then_keeps_the_old_secret_for_the_grace(
    admin: User, tenant: Tenant
) -> None:
    client = logged_in(admin)
    path = f"/spaces/{tenant.space.pk}/signing-secret/rotate"
    old = tenant.space.signing_secret
    # when the admin follows the Rotate link / then a page asks, and nothing changed yet
    asked = client.get(path)
    assert "Rotate the signing secret of acme-rings?" in asked.content.decode()
    assert Space.objects.get(pk=tenant.space.pk).signing_secret == old
    # when they confirm / then the secret is new, the old one signs until the grace ends
    assert client.post(path).status_code == 302
    space = Space.objects.get(pk=tenant.space.pk)
    assert (space.signing_secret != old, space.previous_signing_secret) == (True, old)
    assert "The previous secret signs too until" in client.get("/keys").content.decode()


def test_the_cli_prints_and_rotates_the_signing_secret(tenant: Tenant) -> None:
    def run(*args: str) -> str:
        out = io.StringIO()
        call_command("signingsecret", "--space", "acme-rings", *args, stdout=out)
        return out.getvalue().strip()

    assert run() == tenant.space.signing_secret
    rotated = run("--rotate")
    space = Space.objects.get(pk=tenant.space.pk)
    assert (rotated, space.previous_signing_secret) == (
        space.signing_secret,
        tenant.space.signing_secret,
    )
