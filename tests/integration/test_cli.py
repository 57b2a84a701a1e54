"""The fabflow command: create an organization, user, space and key; seed the demo."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from fabflow.accounts.models import Organization, SecretKey, Space, User
from fabflow.demo import production
from fabflow.flows.models import FlowRun
from fabflow.orders.models import Asset, Order, Part, Product
from tests.factories import ApiClient, order_body


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().strip()


@pytest.mark.django_db
def test_create_org_user_space_and_key_then_use_the_key() -> None:
    run("createorg", "Acme")
    run(
        "createuser",
        "--org",
        "Acme",
        "--email",
        "Boss@Acme.test",
        "--password",
        "a-long-pass-123",
        "--admin",
    )
    run("createspace", "--org", "Acme", "--key", "acme-rings", "--name", "Rings")
    secret = run("createkey", "--space", "acme-rings", "--name", "shop")
    # then stdout holds only the key, and the key works on the API
    assert secret.count("\n") == 0 and secret.startswith("ffsk_")
    user = User.objects.get()
    assert user.email == "boss@acme.test"
    assert user.role == "admin"
    assert user.check_password("a-long-pass-123")
    assert Space.objects.get().name == "Rings"
    assert SecretKey.objects.get().name == "shop"
    response = ApiClient(secret).post("/api/v1/orders", order_body())
    assert response.status_code == 201
    assert response.json()["spaceKey"] == "acme-rings"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "args",
    [
        ("createuser", "--org", "Nope", "--email", "a@b.test", "--password", "long-pass-123"),
        ("createspace", "--org", "Nope", "--key", "k"),
        ("createkey", "--space", "nope"),
    ],
)
def test_unknown_references_are_errors(args: tuple[str, ...]) -> None:
    with pytest.raises(CommandError):
        run(*args)


@pytest.mark.django_db
def test_weak_passwords_and_duplicates_are_refused() -> None:
    run("createorg", "Acme")
    with pytest.raises(CommandError):
        run("createorg", "Acme")
    with pytest.raises(CommandError, match="short"):
        run("createuser", "--org", "Acme", "--email", "a@b.test", "--password", "abc")
    run("createspace", "--org", "Acme", "--key", "s1")
    with pytest.raises(CommandError):
        run("createspace", "--org", "Acme", "--key", "s1")
    with pytest.raises(CommandError):
        run("createspace", "--org", "Acme", "--key", "not a slug")


@pytest.mark.django_db
def test_demo_seeds_once_and_prints_a_working_key(settings: Any, tmp_path: Path) -> None:
    settings.DATA_DIR = tmp_path
    first = run("demo")
    credentials = json.loads((tmp_path / "demo-credentials.json").read_text())
    assert credentials["secretKey"] in first
    assert credentials["password"] in first
    assert Organization.objects.count() == 1
    rings = 0 if production.programs_missing() else len(production.RINGS)
    assert Order.objects.count() == 60 + rings
    # a second run seeds nothing and prints the same login
    second = run("demo")
    assert second == first
    assert Organization.objects.count() == 1
    listed = ApiClient(credentials["secretKey"]).get("/api/v1/orders", limit=100).json()["items"]
    assert len(listed) == 60 + rings
    # the demo orders run the demo flows and carry real files (the ring orders: docs test_demo)
    flows = {o["flow"]["key"] for o in listed if o["flow"]}
    assert flows == {"studio-flow", "express-flow", *(["ring-flow"] if rings else [])}
    assert FlowRun.objects.count() == 48 + rings
    demo_orders = Order.objects.exclude(flow_key="ring-flow")
    files = Product.objects.filter(order__in=demo_orders).count()
    files += Part.objects.filter(order__in=demo_orders).count()
    assert Asset.objects.filter(state="ready", order__in=demo_orders).count() == files
    admin = User.objects.get(email="admin@example.com")
    assert admin.check_password(credentials["password"])
