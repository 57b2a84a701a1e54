"""Cross-tenant matrix: another organization's key, a revoked key or none never sees data."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from fabflow.accounts.services import revoke_secret_key
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
