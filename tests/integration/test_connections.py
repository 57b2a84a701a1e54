"""Connections API: per space, credentials checked by kind, write-only, tested by the kind's
tester; organization admins (session) and the space's own secret key manage them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from fabflow.accounts.services import create_secret_key, create_space, create_user
from fabflow.connectors import testing
from fabflow.connectors.models import Connection
from fabflow.connectors.services import connection_for, create_connection
from fabflow.connectors.testing import TestResult, register_tester
from fabflow.core import outbound
from fabflow.flows.handlers.base import PermanentError
from tests.factories import Tenant

SECRET = "sf-secret-PLAINTEXT-9f3a7c"
KEY = "sf-key-PLAINTEXT-4b2d"
NOT_HTTP = "an http:// or https:// URL"


def body(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "siteflow-prod",
        "kind": "hp-siteflow",
        "baseUrl": "https://orders.example.com",
        "credentials": {"key": KEY, "secret": SECRET},
        **overrides,
    }


class Json:
    """A client sending JSON with any method, as a key (Bearer) or as a logged-in user."""

    def __init__(self, client: Client, headers: dict[str, str] | None = None) -> None:
        self.client, self.headers = client, headers or {}

    def call(self, method: str, path: str, payload: Any = None) -> Any:
        send = getattr(self.client, method.lower())
        if method == "GET":
            return send(path, payload or {}, headers=self.headers)
        data = json.dumps(payload) if payload is not None else ""
        return send(path, data, content_type="application/json", headers=self.headers)


@pytest.fixture
def admin(tenant: Tenant) -> Json:
    client = Client()
    client.force_login(
        create_user(organization=tenant.org, email="ada@acme.test", password="pw", admin=True)
    )
    return Json(client)


@pytest.fixture
def key(tenant: Tenant) -> Json:
    return Json(Client(), {"Authorization": f"Bearer {tenant.secret}"})


@pytest.fixture
def testers() -> Iterator[None]:
    """The registered testers, restored after the test registers its own."""
    saved = dict(testing._TESTERS)
    yield
    testing._TESTERS.clear()
    testing._TESTERS.update(saved)


def test_an_admin_creates_a_connection_and_sees_its_credentials_masked(
    admin: Json, tenant: Tenant
) -> None:
    # when an organization admin creates a connection of a space
    created = admin.call("POST", "/api/v1/connections", body(spaceKey="acme-rings"))
    # then it is stored, and the answer shows each credential as •••• and its last four
    assert created.status_code == 201, created.content
    answer = created.json()
    assert {k: answer[k] for k in ("spaceKey", "name", "kind", "baseUrl", "credentials")} == {
        "spaceKey": "acme-rings",
        "name": "siteflow-prod",
        "kind": "hp-siteflow",
        "baseUrl": "https://orders.example.com",
        "credentials": {"key": "••••4b2d", "secret": "••••3a7c"},
    }
    stored = Connection.objects.get(pk=answer["id"])
    assert stored.credentials == {"key": KEY, "secret": SECRET}
    assert stored.organization == tenant.org
    assert SECRET not in created.content.decode()


def test_a_secret_key_creates_a_connection_in_its_own_space(key: Json) -> None:
    # when a space's secret key creates a connection without naming a space
    created = key.call("POST", "/api/v1/connections", body())
    # then it belongs to the key's space
    assert created.status_code == 201
    assert created.json()["spaceKey"] == "acme-rings"


def test_a_secret_key_cannot_manage_another_spaces_connections(
    key: Json, tenant: Tenant, admin: Json
) -> None:
    # given a sibling space with a connection
    create_space(organization=tenant.org, key="acme-braces")
    other = admin.call("POST", "/api/v1/connections", body(spaceKey="acme-braces")).json()
    # when the first space's key names the sibling, or reads its connection
    created = key.call("POST", "/api/v1/connections", body(spaceKey="acme-braces"))
    listed = key.call("GET", "/api/v1/connections", {"spaceKey": "acme-braces"})
    read = key.call("GET", f"/api/v1/connections/{other['id']}")
    tested = key.call("POST", f"/api/v1/connections/{other['id']}/test")
    # then it is refused, and the sibling's connection is not found
    assert (created.status_code, listed.status_code) == (403, 403)
    assert created.json()["errors"] == [
        {"loc": ["body", "spaceKey"], "msg": "not this key's space"}
    ]
    assert (read.status_code, tested.status_code) == (404, 404)
    assert key.call("GET", "/api/v1/connections").json()["items"] == []


def test_members_who_are_not_admins_are_refused(tenant: Tenant, member: Any, key: Json) -> None:
    # given a connection, and a logged-in member who is not an admin
    made = key.call("POST", "/api/v1/connections", body()).json()
    client = Client()
    client.force_login(member)
    person = Json(client)
    # when they list, create, read, change or test connections / then each answer is 403
    calls = [
        ("GET", "/api/v1/connections", None),
        ("POST", "/api/v1/connections", body(name="mine", spaceKey="acme-rings")),
        ("GET", f"/api/v1/connections/{made['id']}", None),
        ("PUT", f"/api/v1/connections/{made['id']}", {"baseUrl": "https://evil.example"}),
        ("POST", f"/api/v1/connections/{made['id']}/test", None),
    ]
    assert [person.call(*call).status_code for call in calls] == [403] * 5
    assert Connection.objects.get().base_url == "https://orders.example.com"


@pytest.mark.parametrize(
    ("overrides", "errors"),
    [
        ({"credentials": {"key": "k-1234"}}, [(["body", "credentials", "secret"], "required")]),
        (
            {"credentials": {"key": "k", "secret": "s", "token": "t"}},
            [(["body", "credentials", "token"], "not a credential of this kind")],
        ),
        (
            {"kind": "3yourmind"},
            [
                (["body", "credentials", "token"], "required"),
                (["body", "credentials", "key"], "not a credential of this kind"),
                (["body", "credentials", "secret"], "not a credential of this kind"),
            ],
        ),
        (
            {"kind": "materialise", "credentials": {"toolId": " "}},
            [
                (["body", "credentials", "toolId"], "String should have at least 1 character"),
                (["body", "credentials", "apiCode"], "required"),
            ],
        ),
        ({"baseUrl": "ftp://files.example.com"}, [(["body", "baseUrl"], NOT_HTTP)]),
        ({"baseUrl": "https://"}, [(["body", "baseUrl"], NOT_HTTP)]),
        (
            {"baseUrl": "https://me:pw@orders.example.com"},
            [(["body", "baseUrl"], "no user or password in the URL: put them in credentials")],
        ),
        ({"name": "has space"}, [(["body", "name"], "letters, digits, - and _ only (1 to 100)")]),
        (
            {"kind": "fax"},
            [(["body", "kind"], "one of hp-siteflow, 3yourmind, materialise, ultimaker")],
        ),
    ],
)  # fmt: skip
def test_a_bad_connection_is_refused_with_422_naming_the_field(
    key: Json, overrides: dict[str, Any], errors: list[tuple[list[Any], str]]
) -> None:
    # when a connection with a wrong field is created
    response = key.call("POST", "/api/v1/connections", body(**overrides))
    # then the answer is a problem document naming it, and nothing is stored
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    found = [(e["loc"], e["msg"]) for e in response.json()["errors"]]
    assert found == errors
    assert Connection.objects.count() == 0


def test_the_credentials_of_each_kind_are_named_when_missing(key: Json) -> None:
    # when connections of every kind are created without credentials
    missing = {
        kind: [e["loc"][-1] for e in key.call(
            "POST", "/api/v1/connections", body(name=kind, kind=kind, credentials={})
        ).json()["errors"]]
        for kind in ("hp-siteflow", "3yourmind", "materialise", "ultimaker")
    }  # fmt: skip
    # then each answer names the kind's credentials
    assert missing == {
        "hp-siteflow": ["key", "secret"],
        "3yourmind": ["token"],
        "materialise": ["toolId", "apiCode"],
        "ultimaker": ["id", "key"],
    }


def test_a_wrong_credential_value_is_never_echoed(key: Json) -> None:
    # when a credential of the wrong type is sent
    response = key.call("POST", "/api/v1/connections", body(credentials={"key": KEY, "secret": 7}))
    # then its field is named, and no value is quoted
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "credentials", "secret"]
    assert KEY not in response.content.decode()


def test_a_name_used_in_the_space_is_a_conflict(key: Json, admin: Json, tenant: Tenant) -> None:
    # given a connection siteflow-prod, and another space
    key.call("POST", "/api/v1/connections", body())
    create_space(organization=tenant.org, key="acme-braces")
    # when the same name is used again in the space, and in the other space
    again = key.call("POST", "/api/v1/connections", body())
    elsewhere = admin.call("POST", "/api/v1/connections", body(spaceKey="acme-braces"))
    # then the first is a 409 naming the field, the second is fine
    assert again.status_code == 409
    assert again.json()["errors"] == [
        {"loc": ["body", "name"], "msg": "already used in this space"}
    ]
    assert elsewhere.status_code == 201


def test_an_admin_must_name_a_known_space(admin: Json) -> None:
    no_space = admin.call("POST", "/api/v1/connections", body())
    unknown = admin.call("POST", "/api/v1/connections", body(spaceKey="nowhere"))
    unknown_list = admin.call("GET", "/api/v1/connections", {"spaceKey": "nowhere"})
    assert [r.status_code for r in (no_space, unknown, unknown_list)] == [422, 422, 422]
    assert unknown_list.json()["errors"][0]["loc"] == ["query", "spaceKey"]


def test_the_list_is_filtered_by_space(admin: Json, tenant: Tenant, other_tenant: Tenant) -> None:
    # given connections in two spaces of the organization, and one of another organization
    create_space(organization=tenant.org, key="acme-braces")
    admin.call("POST", "/api/v1/connections", body(spaceKey="acme-rings"))
    admin.call("POST", "/api/v1/connections", body(spaceKey="acme-braces", name="b"))
    create_connection(
        space=other_tenant.space, name="theirs", kind="3yourmind",
        base_url="https://x.example", credentials={"token": "t" * 20},
    )  # fmt: skip
    # when the admin lists all, and one space's
    every = admin.call("GET", "/api/v1/connections").json()["items"]
    braces = admin.call("GET", "/api/v1/connections", {"spaceKey": "acme-braces"}).json()["items"]
    # then they see their organization's only
    assert [(c["spaceKey"], c["name"]) for c in every] == [
        ("acme-braces", "b"),
        ("acme-rings", "siteflow-prod"),
    ]
    assert [c["name"] for c in braces] == ["b"]


def test_an_update_without_credentials_keeps_the_stored_ones(key: Json) -> None:
    # given a connection
    made = key.call("POST", "/api/v1/connections", body()).json()
    # when its name changes with no credentials, then one credential changes
    renamed = key.call("PUT", f"/api/v1/connections/{made['id']}", {"name": "siteflow-eu"})
    new_secret = key.call(
        "PUT", f"/api/v1/connections/{made['id']}", {"credentials": {"secret": "new-secret-0042"}}
    )
    # then the credentials not given keep their values
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "siteflow-eu"
    assert renamed.json()["credentials"] == made["credentials"]
    assert new_secret.json()["credentials"] == {"key": "••••4b2d", "secret": "••••0042"}
    stored = Connection.objects.get()
    assert stored.credentials == {"key": KEY, "secret": "new-secret-0042"}


def test_a_new_base_url_needs_the_credentials_again(key: Json) -> None:
    # given a connection
    made = key.call("POST", "/api/v1/connections", body()).json()
    path = f"/api/v1/connections/{made['id']}"
    # when its base URL changes without the credentials: the stored secrets would go there
    moved = key.call("PUT", path, {"baseUrl": "https://elsewhere.example.com"})
    # then it is refused, naming the credentials, and nothing changed
    assert moved.status_code == 422, moved.content
    assert {tuple(e["loc"]) for e in moved.json()["errors"]} == {
        ("body", "credentials", "key"),
        ("body", "credentials", "secret"),
    }
    assert Connection.objects.get().base_url == made["baseUrl"]
    # and with them given again it moves
    again = {"baseUrl": "https://eu.example.com", "credentials": {"key": KEY, "secret": "s-0099"}}
    assert key.call("PUT", path, again).status_code == 200
    stored = Connection.objects.get()
    assert (stored.base_url, stored.credentials) == (
        "https://eu.example.com",
        {"key": KEY, "secret": "s-0099"},
    )


def test_a_new_kind_needs_its_own_credentials(key: Json) -> None:
    made = key.call("POST", "/api/v1/connections", body()).json()
    path = f"/api/v1/connections/{made['id']}"
    # when the kind changes without credentials / then they are asked for
    refused = key.call("PUT", path, {"kind": "3yourmind"})
    assert refused.status_code == 422
    assert [e["loc"] for e in refused.json()["errors"]] == [["body", "credentials", "token"]]
    # when it changes with them / then the old ones are gone
    changed = key.call("PUT", path, {"kind": "3yourmind", "credentials": {"token": "tok-12345678"}})
    assert changed.json()["credentials"] == {"token": "••••5678"}
    assert Connection.objects.get().credentials == {"token": "tok-12345678"}


def test_renaming_onto_a_used_name_is_a_conflict(key: Json) -> None:
    key.call("POST", "/api/v1/connections", body())
    other = key.call("POST", "/api/v1/connections", body(name="second")).json()
    response = key.call("PUT", f"/api/v1/connections/{other['id']}", {"name": "siteflow-prod"})
    assert response.status_code == 409
    assert Connection.objects.get(pk=other["id"]).name == "second"


def test_a_short_credential_shows_no_character(key: Json) -> None:
    made = key.call(
        "POST", "/api/v1/connections", body(kind="ultimaker", credentials={"id": "42", "key": "k"})
    )
    assert made.json()["credentials"] == {"id": "••••", "key": "••••"}


def test_a_kind_without_a_tester_says_so(key: Json, testers: None) -> None:
    testing._TESTERS.pop("hp-siteflow", None)
    made = key.call("POST", "/api/v1/connections", body()).json()
    response = key.call("POST", f"/api/v1/connections/{made['id']}/test")
    assert response.status_code == 200
    assert response.json() == {"ok": False, "status": None, "message": "no test for this kind yet"}


def bearer_tester(connection: Connection) -> TestResult:
    """A tester as a partner module writes one: an authenticated GET of the partner's API."""
    policy = outbound.OutboundPolicy.from_strings(settings.OUTBOUND_ALLOWLIST)
    headers = {"Authorization": f"Bearer {connection.credentials['token']}"}
    answer = outbound.request(policy, "GET", f"{connection.base_url}/account", headers=headers)
    return TestResult(answer.status == 200, answer.status, answer.body.decode()[:200])


@pytest.fixture
def partner(httpserver: HTTPServer, settings: Any) -> HTTPServer:
    """A partner API on 127.0.0.1 that knows one token."""
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]

    def account(request: Request) -> Response:
        if request.headers.get("Authorization") == "Bearer good-token-1234":
            return Response("account ok", status=200)
        return Response("unknown token", status=401)

    httpserver.expect_request("/account").respond_with_handler(account)
    return httpserver


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("good-token-1234", {"ok": True, "status": 200, "message": "account ok"}),
        ("bad-token-5678", {"ok": False, "status": 401, "message": "unknown token"}),
    ],
)
def test_the_test_action_says_what_the_partner_answered(
    key: Json, partner: HTTPServer, testers: None, token: str, expected: dict[str, Any]
) -> None:
    # given a tester for 3yourmind connections, and a connection to the partner
    register_tester("3yourmind", bearer_tester)
    base_url = partner.url_for("").rstrip("/")
    made = key.call(
        "POST",
        "/api/v1/connections",
        body(kind="3yourmind", baseUrl=base_url, credentials={"token": token}),
    ).json()
    # when it is tested
    response = key.call("POST", f"/api/v1/connections/{made['id']}/test")
    # then the answer says what the partner said
    assert response.json() == expected


def test_a_tester_that_raises_is_a_failed_test_without_the_secret(
    key: Json, testers: None, caplog: pytest.LogCaptureFixture
) -> None:
    # given a tester whose error quotes a credential
    def leaky(connection: Connection) -> TestResult:
        raise RuntimeError(f"refused {connection.credentials['secret']} at {connection.base_url}")

    register_tester("hp-siteflow", leaky)
    made = key.call("POST", "/api/v1/connections", body()).json()
    # when the connection is tested
    response = key.call("POST", f"/api/v1/connections/{made['id']}/test")
    # then the test failed, with the message redacted
    assert response.json() == {
        "ok": False,
        "status": None,
        "message": "the test failed: refused •••• at https://orders.example.com",
    }
    assert SECRET not in caplog.text


def test_handlers_find_their_connection_by_name_and_kind(tenant: Tenant) -> None:
    # given a Materialise connection
    made = create_connection(
        space=tenant.space, name="mat", kind="materialise",
        base_url="https://mat.example", credentials={"toolId": "tool", "apiCode": "code-1234"},
    )  # fmt: skip
    # when handlers look connections up / then the right kind is found, others fail clearly
    assert connection_for("acme-rings", "mat", "materialise") == made
    with pytest.raises(PermanentError, match=r"^no connection 'nope' in space acme-rings$"):
        connection_for("acme-rings", "nope", "materialise")
    with pytest.raises(
        PermanentError, match=r"^connection 'mat' is a materialise connection, not hp-siteflow$"
    ):
        connection_for("acme-rings", "mat", "hp-siteflow")


def test_another_spaces_key_is_not_found_by_id(tenant: Tenant, key: Json) -> None:
    # given a connection of a sibling space, made by that space's key
    sibling = create_space(organization=tenant.org, key="acme-braces")
    sibling_key = Json(Client(), {"Authorization": f"Bearer {create_secret_key(space=sibling)[1]}"})
    made = sibling_key.call("POST", "/api/v1/connections", body()).json()
    # when the first key changes it / then it is not found and unchanged
    response = key.call("PUT", f"/api/v1/connections/{made['id']}", {"baseUrl": "https://x.test"})
    assert response.status_code == 404
    assert Connection.objects.get().base_url == "https://orders.example.com"
