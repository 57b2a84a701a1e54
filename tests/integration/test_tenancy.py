"""Cross-tenant matrix: another organization's key, a revoked key or none never sees data."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from fabflow.accounts.services import create_user, revoke_secret_key
from fabflow.orders.models import Asset, Order
from tests.factories import ApiClient, Tenant, make_tenant, order_body


@pytest.fixture
def acme_order(api: ApiClient) -> dict[str, Any]:
    products = [
        {
            "name": "Secret ring",
            "assets": [
                {"name": "secret.stl", "contentBase64": base64.b64encode(b"secret").decode()}
            ],
            "parts": [{"name": "secret-band"}],
        }
    ]
    response = api.post("/api/v1/orders", order_body("ACME-SECRET", products=products))
    assert response.status_code == 201
    return response.json()


def read_paths(order: dict[str, Any]) -> list[str]:
    product = order["products"][0]
    return [
        f"/api/v1/orders/{order['id']}",
        f"/api/v1/orders/{order['id']}/events",
        f"/api/v1/products/{product['id']}",
        f"/api/v1/parts/{product['parts'][0]['id']}",
        f"/api/v1/assets/{product['assets'][0]['id']}/download",
    ]


def test_other_organizations_key_gets_404_on_every_object(
    acme_order: dict[str, Any], other_tenant: Tenant
) -> None:
    other = ApiClient(other_tenant.secret)
    for path in read_paths(acme_order):
        response = other.get(path)
        assert response.status_code == 404, path
        assert b"secret" not in response.content.lower()


def test_other_organizations_key_lists_nothing(
    acme_order: dict[str, Any], other_tenant: Tenant
) -> None:
    other = ApiClient(other_tenant.secret)
    for path in ["/api/v1/orders", "/api/v1/products", "/api/v1/parts"]:
        response = other.get(path)
        assert response.status_code == 200
        assert response.json()["items"] == []


def test_other_space_of_the_same_organization_is_also_invisible(
    acme_order: dict[str, Any], tenant: Tenant
) -> None:
    from fabflow.accounts.services import create_secret_key, create_space

    space = create_space(organization=tenant.org, key="acme-braces")
    _key, secret = create_secret_key(space=space)
    sibling = ApiClient(secret)
    assert sibling.get(f"/api/v1/orders/{acme_order['id']}").status_code == 404
    assert sibling.get("/api/v1/orders").json()["items"] == []


def test_other_organizations_key_cannot_upload_to_the_order(
    acme_order: dict[str, Any], other_tenant: Tenant
) -> None:
    other = ApiClient(other_tenant.secret)
    upload = SimpleUploadedFile("x.stl", b"x")
    response = other.client.post(
        f"/api/v1/orders/{acme_order['id']}/assets", {"file": upload}, headers=other.headers
    )
    assert response.status_code == 404
    assert Asset.objects.count() == 1


@pytest.mark.parametrize("secret", [None, "", "ffsk_0000_nope", "not-a-key", "ffsk_" + "x" * 500])
def test_missing_or_invalid_key_is_401_everywhere(
    acme_order: dict[str, Any], secret: str | None
) -> None:
    client = ApiClient(secret)
    for path in [*read_paths(acme_order), "/api/v1/orders", "/api/v1/products", "/api/v1/parts"]:
        response = client.get(path)
        assert response.status_code == 401, path
        assert response["Content-Type"] == "application/problem+json"
        assert response["WWW-Authenticate"].startswith("Bearer")
    assert client.post("/api/v1/orders", order_body("NOPE")).status_code == 401
    assert Order.objects.count() == 1


def test_revoked_key_is_refused_on_the_next_call(
    api: ApiClient, tenant: Tenant, acme_order: dict[str, Any]
) -> None:
    assert api.get("/api/v1/orders").status_code == 200
    revoke_secret_key(key=tenant.key)
    assert api.get("/api/v1/orders").status_code == 401
    assert api.get(f"/api/v1/orders/{acme_order['id']}").status_code == 401
    assert api.post("/api/v1/orders", order_body("AFTER-REVOKE")).status_code == 401
    assert Order.objects.count() == 1


def test_key_records_last_use(api: ApiClient, tenant: Tenant) -> None:
    assert tenant.key.last_used_at is None
    api.get("/api/v1/orders")
    tenant.key.refresh_from_db()
    assert tenant.key.last_used_at is not None


def test_keys_are_stored_only_as_hashes(db: None) -> None:
    tenant = make_tenant("Hashco", "hash-space")
    assert tenant.secret.startswith(tenant.key.prefix + "_")
    assert tenant.secret not in tenant.key.key_hash
    assert len(tenant.key.key_hash) == 64


def test_session_user_sees_own_organization_only(
    acme_order: dict[str, Any], member: Any, other_tenant: Tenant
) -> None:
    from django.test import Client

    other = ApiClient(other_tenant.secret)
    assert other.post("/api/v1/orders", order_body("GLOBEX-1")).status_code == 201
    client = Client()
    client.force_login(member)
    ids = [o["id"] for o in client.get("/api/v1/orders").json()["items"]]
    assert ids == [acme_order["id"]]


def test_session_writes_need_csrf(member: Any) -> None:
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    response = client.post(
        "/api/v1/orders",
        order_body("CSRF-1", spaceKey="acme-rings"),
        content_type="application/json",
    )
    assert response.status_code in (401, 403)
    assert Order.objects.count() == 0


# Writes without credentials: 401 with the Bearer challenge, before any CSRF check.


NOWHERE = "00000000-0000-4000-8000-000000000000"


def api_writes() -> list[tuple[str, str]]:
    """(method, path) of every API operation that writes and needs credentials, path
    parameters filled with ids that exist nowhere; listed from the API, so none is missed."""
    from ninja.utils import normalize_path

    from fabflow.api import api

    writes = []
    for prefix, router in api._routers:
        for route, view in router.path_operations.items():
            for operation in view.operations:
                if operation.auth_param is None:  # the feedback link and health need none
                    continue
                path = normalize_path("/".join(["/api", prefix, route]))
                path = re.sub(r"\{[^}]+\}", NOWHERE, path)
                writes += [(m, path) for m in operation.methods if m != "GET"]
    return writes


def write(client: Client, method: str, path: str, **extra: Any) -> Any:
    call = client.put if method == "PUT" else client.post
    return call(path, "{}", content_type="application/json", **extra)


@pytest.mark.parametrize(("method", "path"), api_writes())
def test_a_write_without_credentials_is_401_with_the_bearer_challenge(
    tenant: Tenant, method: str, path: str
) -> None:
    # given a client with no key and no session, checking CSRF like a browser would
    client = Client(enforce_csrf_checks=True)
    # when it writes / then it is told to authenticate (not "CSRF check failed")
    response = write(client, method, path)
    assert response.status_code == 401, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"] == 'Bearer realm="fabflow"'
    assert response.json()["detail"] == (
        "A valid secret key is required: Authorization: Bearer <key>."
    )


@pytest.mark.parametrize(("method", "path"), api_writes())
def test_a_session_write_without_the_csrf_token_is_403(member: Any, method: str, path: str) -> None:
    # given a logged-in browser session / when it writes without the CSRF token
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    response = write(client, method, path)
    # then it is refused before the endpoint runs
    assert response.status_code == 403, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["detail"] == "CSRF check Failed"


def test_a_session_write_with_the_csrf_token_is_accepted(member: Any) -> None:
    # given a logged-in browser session holding its CSRF token
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    token = "f" * 32  # the cookie's secret; the header repeats it
    client.cookies["csrftoken"] = token
    # when it creates an order with the token / then it is created
    body = order_body("CSRF-OK", spaceKey="acme-rings")
    response = client.post(
        "/api/v1/orders", body, content_type="application/json", headers={"X-CSRFToken": token}
    )
    assert response.status_code == 201, response.content
    assert list(Order.objects.values_list("name", flat=True)) == ["CSRF-OK"]


# Logins ignore the e-mail's case.


def test_login_ignores_the_case_of_the_email(member: Any) -> None:
    # given a member registered as mia@acme.test
    client = Client()
    # when they log in typing their address with capitals
    response = client.post("/login", {"username": " Mia@ACME.test", "password": "x-pass-1234"})
    # then they are in
    assert response.status_code == 302 and response["Location"] == "/orders"
    assert client.get("/orders").status_code == 200


def test_new_users_are_stored_with_the_address_in_lower_case(tenant: Tenant) -> None:
    # given an address typed with capitals and spaces / when the user is created
    user = create_user(organization=tenant.org, email=" Zoe@Example.COM ", password="pw-12345678")
    # then it is stored trimmed and in lower case
    user.refresh_from_db()
    assert user.email == "zoe@example.com"


def test_two_users_cannot_have_addresses_differing_only_in_case(member: Any) -> None:
    # given mia@acme.test / when another user is written as MIA@acme.test, past the manager
    from django.db import IntegrityError, transaction

    from fabflow.accounts.models import User

    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(email="MIA@acme.test", organization=member.organization)
    # then only the first exists
    assert list(User.objects.values_list("email", flat=True)) == ["mia@acme.test"]


def test_case_variants_of_an_address_share_one_lockout(member: Any, settings: Any) -> None:
    # given failed logins spread over case variants of one address, up to the limit
    attacker = Client()
    for index in range(settings.AXES_FAILURE_LIMIT):
        variant = "mia@acme.test"[:index] + "mia@acme.test"[index:].upper()
        attacker.post("/login", {"username": variant, "password": "wrong"})
    # when the right password comes next, under yet another variant
    response = attacker.post("/login", {"username": "Mia@Acme.Test", "password": "x-pass-1234"})
    # then the address is locked out
    assert response.status_code == 429


EMAIL_MIGRATION = [("accounts", "0002_user_email_case_insensitive")]


@pytest.mark.django_db(transaction=True)
def test_the_email_migration_refuses_case_twins_then_lower_cases_addresses(
    tenant: Tenant,
) -> None:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    # given users stored before the migration, two of them case twins
    before = [("accounts", "0001_initial")]
    MigrationExecutor(connection).migrate(before)
    try:
        old = MigrationExecutor(connection).loader.project_state(before).apps
        users = old.get_model("accounts", "User").objects
        for email in ["Ann@Example.com", "ANN@example.COM", "Bob@Example.com"]:
            users.create(email=email, organization_id=tenant.org.pk, password="!")
        # when migrating / then it refuses, naming the twins, and changes nothing
        with pytest.raises(RuntimeError, match="more than one user when case is ignored: ann@"):
            MigrationExecutor(connection).migrate(EMAIL_MIGRATION)
        emails = sorted(users.values_list("email", flat=True))
        assert emails == ["ANN@example.COM", "Ann@Example.com", "Bob@Example.com"]
        # and once the twins are merged, it stores every address in lower case
        users.filter(email="ANN@example.COM").delete()
        MigrationExecutor(connection).migrate(EMAIL_MIGRATION)
        emails = sorted(users.values_list("email", flat=True))
        assert emails == ["ann@example.com", "bob@example.com"]
    finally:
        users.filter(email="ANN@example.COM").delete()
        # Back to the latest schema, later migrations included, for the tests that follow.
        MigrationExecutor(connection).migrate(
            MigrationExecutor(connection).loader.graph.leaf_nodes()
        )
