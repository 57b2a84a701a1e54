"""Shared fixtures: tenants, secret keys and an API client that speaks JSON."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fabflow.accounts.services import create_user
from fabflow.core import mailer
from tests.factories import ApiClient, Tenant, make_tenant


@pytest.fixture(autouse=True)
def _media_root(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    # Argon2 is the production hasher (test_settings checks it); tests need speed, not cost.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _smtp_session() -> Iterator[None]:
    # A test's kept-open SMTP session (core/mailer.py) must not outlive its test's server.
    yield
    mailer.close()


@pytest.fixture
def tenant(db: None) -> Tenant:
    return make_tenant("Acme", "acme-rings")


@pytest.fixture
def other_tenant(db: None) -> Tenant:
    return make_tenant("Globex", "globex-braces")


@pytest.fixture
def api(tenant: Tenant) -> ApiClient:
    return ApiClient(tenant.secret)


@pytest.fixture
def member(tenant: Tenant) -> Any:
    return create_user(
        organization=tenant.org, email="mia@acme.test", password="x-pass-1234", tags=["vip"]
    )


@pytest.fixture
def staff(member: Any) -> Any:
    """A test client logged in as the tenant's member."""
    from django.test import Client

    client = Client()
    client.force_login(member)
    return client
