"""The Connections page: organization admins list, create, edit and test connections; the
credentials are write-only (inputs never filled, stored values shown as ••••last4)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from fabflow.accounts.services import create_space, create_user
from fabflow.connectors import testing
from fabflow.connectors.models import Connection
from fabflow.connectors.services import create_connection
from fabflow.connectors.testing import TestResult, register_tester
from tests.factories import Tenant

SECRET = "web-secret-PLAINTEXT-77aa"
KEY = "web-key-PLAINTEXT-31cd"


@pytest.fixture
def admin(tenant: Tenant) -> Client:
    client = Client()
    client.force_login(
        create_user(organization=tenant.org, email="ada@acme.test", password="pw", admin=True)
    )
    return client


@pytest.fixture
def made(tenant: Tenant) -> Connection:
    return create_connection(
        space=tenant.space,
        name="siteflow-prod",
        kind="hp-siteflow",
        base_url="https://orders.example.com",
        credentials={"key": KEY, "secret": SECRET},
    )


@pytest.fixture
def testers() -> Iterator[None]:
    saved = dict(testing._TESTERS)
    yield
    testing._TESTERS.clear()
    testing._TESTERS.update(saved)


def form(**overrides: str) -> dict[str, str]:
    return {
        "space": "acme-rings",
        "name": "siteflow-prod",
        "kind": "hp-siteflow",
        "base_url": "https://orders.example.com",
        "credential-key": KEY,
        "credential-secret": SECRET,
        **overrides,
    }


def test_an_admin_sees_the_connections_of_each_space_masked(
    admin: Client, made: Connection, tenant: Tenant
) -> None:
    # given a connection in each of two spaces
    braces = create_space(organization=tenant.org, key="acme-braces")
    create_connection(
        space=braces, name="printer", kind="ultimaker",
        base_url="http://10.0.0.7", credentials={"id": "printer-id-0001", "key": "pk-12345678"},
    )  # fmt: skip
    # when the admin opens the page
    page = admin.get("/connections")
    html = page.content.decode()
    # then each space lists its connections, credentials masked, and the sidebar links here
    assert page.status_code == 200
    assert re.findall(r'data-space="([^"]+)"', html) == ["acme-braces", "acme-rings"]
    assert re.findall(r'data-connection="([^"]+)"', html) == ["printer", "siteflow-prod"]
    assert "<code>••••31cd</code>" in html and "<code>••••77aa</code>" in html
    assert "<code>••••0001</code>" in html
    assert SECRET not in html and KEY not in html
    assert 'class="nav-link active" href="/connections"' in html


def test_an_admin_creates_a_connection(admin: Client, tenant: Tenant) -> None:
    # when the admin fills the form
    response = admin.post("/connections", form())
    # then the connection is stored and the list says so
    assert response.status_code == 302
    stored = Connection.objects.get()
    assert (stored.space, stored.name, stored.credentials) == (
        tenant.space,
        "siteflow-prod",
        {"key": KEY, "secret": SECRET},
    )
    assert (
        "Connection siteflow-prod of acme-rings created."
        in admin.get("/connections").content.decode()
    )


def test_a_refused_form_names_the_fields_and_does_not_echo_credentials(admin: Client) -> None:
    # when the form has a bad URL and no secret
    response = admin.post(
        "/connections", form(base_url="ftp://x.example", **{"credential-secret": ""})
    )
    html = response.content.decode()
    # then the page comes back with both errors and no credential in it
    assert response.status_code == 200
    assert "an http:// or https:// URL" in html
    assert re.search(
        r'name="credential-secret"[^>]*>\s*<div class="invalid-feedback">required', html
    )
    assert KEY not in html
    assert Connection.objects.count() == 0


def test_a_used_name_is_refused_on_the_form(admin: Client, made: Connection) -> None:
    response = admin.post("/connections", form())
    assert "already used in this space" in response.content.decode()
    assert Connection.objects.count() == 1


def test_the_kind_swaps_the_credential_inputs(admin: Client) -> None:
    # when the kind changes to Materialise (htmx asks for its inputs)
    html = admin.get("/connections/credentials", {"kind": "materialise"}).content.decode()
    # then its credentials are asked for, as password inputs
    assert re.findall(r'type="password" autocomplete="new-password" name="([^"]+)"', html) == [
        "credential-toolId",
        "credential-apiCode",
    ]


def test_the_edit_page_never_shows_the_credentials(admin: Client, made: Connection) -> None:
    html = admin.get(f"/connections/{made.id}").content.decode()
    assert 'placeholder="••••31cd (empty keeps it)"' in html
    assert 'placeholder="••••77aa (empty keeps it)"' in html
    assert SECRET not in html and KEY not in html


def test_an_edit_with_empty_credentials_keeps_them(admin: Client, made: Connection) -> None:
    # when the admin changes the secret, leaving the key empty
    response = admin.post(
        f"/connections/{made.id}",
        {"name": "siteflow-prod", "base_url": made.base_url, "credential-key": "",
         "credential-secret": "brand-new-secret-99"},
    )  # fmt: skip
    # then the key is kept and the secret replaced
    assert response.status_code == 302
    made.refresh_from_db()
    assert made.credentials == {"key": KEY, "secret": "brand-new-secret-99"}
    # but a new URL with an empty key is refused: the stored key would go to the new address
    moved = admin.post(
        f"/connections/{made.id}",
        {"name": "siteflow-prod", "base_url": "https://eu.example.com", "credential-key": "",
         "credential-secret": "brand-new-secret-99"},
    )  # fmt: skip
    assert moved.status_code == 200
    made.refresh_from_db()
    assert made.base_url != "https://eu.example.com"


def test_the_test_button_shows_the_answer(admin: Client, made: Connection, testers: None) -> None:
    # given a tester for Site Flow connections
    register_tester("hp-siteflow", lambda c: TestResult(False, 401, "invalid credentials"))
    # when the admin presses Test (htmx), and without htmx
    swapped = admin.post(f"/connections/{made.id}/test", headers={"HX-Request": "true"})
    plain = admin.post(f"/connections/{made.id}/test", follow=True)
    # then the answer is swapped in beside the button, or shown as a message
    assert 'data-ok="false">failed · HTTP 401</span>' in swapped.content.decode()
    assert "invalid credentials" in swapped.content.decode()
    assert "Test of siteflow-prod: failed (HTTP 401): invalid credentials" in plain.content.decode()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/connections"),
        ("post", "/connections"),
        ("get", "/connections/credentials"),
        ("get", "/connections/{id}"),
        ("post", "/connections/{id}"),
        ("post", "/connections/{id}/test"),
    ],
)
def test_members_who_are_not_admins_get_403(
    member: Any, made: Connection, method: str, path: str
) -> None:
    client = Client()
    client.force_login(member)
    response = getattr(client, method)(path.format(id=made.id), form(name="mine"))
    assert response.status_code == 403
    assert list(Connection.objects.values_list("name", flat=True)) == ["siteflow-prod"]


def test_members_have_no_connections_link(member: Any) -> None:
    client = Client()
    client.force_login(member)
    assert 'href="/connections"' not in client.get("/orders").content.decode()
