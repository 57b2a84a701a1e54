"""People on the users page: destructive actions ask first, nobody locks the organization out
of its admins; times are shown in the person's (or organization's) time zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import Client

from fabflow.accounts.models import SecretKey, User
from fabflow.accounts.services import create_user, set_user_active, update_user
from fabflow.core.errors import Conflict
from fabflow.orders.models import Order
from tests.factories import ApiClient, Tenant, order_body


@pytest.fixture
def admin(tenant: Tenant) -> User:
    return create_user(organization=tenant.org, email="boss@acme.test", password="pw", admin=True)


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def active(user: User) -> bool:
    return User.objects.get(pk=user.pk).is_active


def test_deactivating_asks_first_and_the_question_changes_nothing(
    admin: User, member: User
) -> None:
    client = logged_in(admin)
    asked = client.get(f"/users/{member.pk}/active")
    assert "Deactivate mia@acme.test?" in asked.content.decode()
    assert active(member)
    client.post(f"/users/{member.pk}/active", {"active": "0"})
    assert not active(member)


def test_revoking_a_key_asks_first_and_the_question_changes_nothing(
    admin: User, tenant: Tenant
) -> None:
    asked = logged_in(admin).get(f"/keys/{tenant.key.pk}/revoke")
    assert f"Revoke key {tenant.key.prefix}" in asked.content.decode()
    assert SecretKey.objects.get(pk=tenant.key.pk).revoked_at is None


def test_an_admin_cannot_deactivate_themselves(admin: User, member: User) -> None:
    with pytest.raises(Conflict, match="You cannot deactivate yourself"):
        set_user_active(user=admin, active=False, by=admin)
    assert active(admin)


def test_the_last_active_admin_cannot_be_deactivated(tenant: Tenant, admin: User) -> None:
    # given a second admin, inactive: the first is the last active one
    other = create_user(organization=tenant.org, email="ops@acme.test", password="pw", admin=True)
    set_user_active(user=other, active=False, by=admin)
    # when the inactive admin's account is used against the last active one / then refused
    with pytest.raises(Conflict, match="the last active admin of the organization"):
        set_user_active(user=admin, active=False, by=other)
    assert active(admin)


def test_the_last_active_admin_cannot_lose_the_admin_role(tenant: Tenant, admin: User) -> None:
    other = create_user(organization=tenant.org, email="ops@acme.test", password="pw")
    with pytest.raises(Conflict, match="the last active admin"):
        update_user(user=admin, role=User.Role.MEMBER, tags=[], by=other)
    assert User.objects.get(pk=admin.pk).role == User.Role.ADMIN


def test_another_admin_can_be_deactivated_while_one_stays(tenant: Tenant, admin: User) -> None:
    other = create_user(organization=tenant.org, email="ops@acme.test", password="pw", admin=True)
    set_user_active(user=other, active=False, by=admin)
    assert not active(other)


def test_the_users_page_says_why_a_self_deactivation_was_refused(admin: User) -> None:
    response = logged_in(admin).post(f"/users/{admin.pk}/active", {"active": "0"}, follow=True)
    assert "You cannot deactivate yourself." in response.content.decode()
    assert active(admin)


# --- Time zones.


@pytest.fixture
def order_at_noon_utc(api: ApiClient) -> str:
    order_id = api.post("/api/v1/orders", order_body()).json()["id"]
    Order.objects.filter(pk=order_id).update(created_at=datetime(2026, 1, 15, 12, 0, tzinfo=UTC))
    return str(order_id)


def created_shown(client: Client, order_id: str) -> str:
    html = client.get(f"/orders/{order_id}").content.decode()
    return html.split("<dt>Created</dt><dd>", 1)[1].split("<", 1)[0]


def test_times_are_shown_in_the_organizations_zone_then_the_persons_own(
    member: User, tenant: Tenant, order_at_noon_utc: str
) -> None:
    client = logged_in(member)
    assert created_shown(client, order_at_noon_utc) == "2026-01-15 12:00"
    # when an admin sets the organization's zone / then its people see their times in it
    admin = create_user(organization=tenant.org, email="boss@acme.test", password="pw", admin=True)
    logged_in(admin).post("/time-zone", {"time_zone": "America/New_York", "organization": "1"})
    assert created_shown(client, order_at_noon_utc) == "2026-01-15 07:00"
    # when the member chooses their own / then it wins
    assert client.post("/time-zone", {"time_zone": "Asia/Tokyo"}).status_code == 302
    assert created_shown(client, order_at_noon_utc) == "2026-01-15 21:00"
    page = client.get("/password").content.decode()
    assert page.count("<option selected>Asia/Tokyo</option>") == 1


def test_an_unknown_time_zone_is_refused_with_a_message(member: User) -> None:
    client = logged_in(member)
    response = client.post("/time-zone", {"time_zone": "Mars/Olympus"}, follow=True)
    assert "Choose a time zone from the list." in response.content.decode()
    assert User.objects.get(pk=member.pk).time_zone == ""


def test_a_member_cannot_set_the_organizations_time_zone(member: User, tenant: Tenant) -> None:
    response = logged_in(member).post(
        "/time-zone", {"time_zone": "Asia/Tokyo", "organization": "1"}
    )
    assert response.status_code == 403
    tenant.org.refresh_from_db()
    assert tenant.org.time_zone == "UTC"
