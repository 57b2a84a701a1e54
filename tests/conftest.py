"""Shared fixtures: tenants, secret keys and an API client that speaks JSON."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fabflow.accounts.services import create_user
from fabflow.core import mailer
from tests.factories import ApiClient, Tenant, make_tenant

PRODUCTION_PROGRAMS = ("openscad", "CuraEngine")


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """Tests marked `production_programs` run the real openscad and CuraEngine: skipped where
    they are missing (scripts/system-packages says how to install them), except under CI, which
    installs them: there a missing program fails the test instead of hiding it."""
    missing = [name for name in PRODUCTION_PROGRAMS if shutil.which(name) is None]
    if not missing or os.environ.get("CI"):
        return
    skip = pytest.mark.skip(reason=f"not installed: {', '.join(missing)}")
    for item in items:
        if "production_programs" in item.keywords:
            item.add_marker(skip)


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
