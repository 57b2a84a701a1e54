"""Test data builders: tenants with keys, order bodies, and a JSON API client."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.test import Client

from fabflow.accounts.models import Organization, SecretKey, Space
from fabflow.accounts.services import (
    create_organization,
    create_secret_key,
    create_space,
)


@dataclass
class Tenant:
    org: Organization
    space: Space
    key: SecretKey
    secret: str


def make_tenant(name: str, space_key: str) -> Tenant:
    org = create_organization(name=name)
    space = create_space(organization=org, key=space_key)
    key, secret = create_secret_key(space=space, name="test")
    return Tenant(org, space, key, secret)


class ApiClient:
    """A Django test client sending the Bearer key and JSON bodies."""

    def __init__(self, secret: str | None) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {secret}"} if secret else {}

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(path, params, headers=self.headers)

    def post(
        self,
        path: str,
        body: Any = None,
        *,
        raw: bytes | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        data = raw if raw is not None else json.dumps(body)
        return self.client.post(
            path,
            data=data,
            content_type="application/json",
            headers={**self.headers, **(headers or {})},
        )


def order_body(tpo: str = "WEB-1001", **overrides: Any) -> dict[str, Any]:
    """A valid create-order body with 2 products x 2 parts."""
    body: dict[str, Any] = {
        "thirdPartyOrderId": tpo,
        "customerEmail": "ann@example.com",
        "customerInfo": {"name": "Ann", "email": "ann@example.com"},
        "tags": ["vip"],
        "data": {"channel": "web"},
        "products": [
            {
                "name": f"Ring {i}",
                "configurationId": f"cfg-{i}",
                "configuration": {"size": 16 + i},
                "units": 2,
                "value": "49.50",
                "parts": [
                    {"name": "band", "data": {"material": "PLA"}},
                    {"name": "stone", "data": {}},
                ],
            }
            for i in range(2)
        ],
    }
    body.update(overrides)
    return body
