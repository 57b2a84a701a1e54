"""Writes for organizations, users, spaces and secret keys."""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from fabflow.accounts.models import (
    TIME_ZONES,
    Organization,
    SecretKey,
    Space,
    User,
    new_signing_secret,
)
from fabflow.core.errors import Conflict, Invalid

# Reveals and rotations of signing secrets: accounts have no timeline, so the log is the audit.
audit = logging.getLogger("fabflow.audit")
KEY_PREFIX = "ffsk_"
# last_used_at is a hint for humans; writing it on every request would make each API call a
# write (and serialise SQLite), so it is refreshed at most once per interval.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_key(plain: str) -> str:
    """SHA-256 of a secret key: keys carry 190+ bits of entropy, so no slow hash is needed."""
    return hashlib.sha256(plain.encode("utf-8", "surrogatepass")).hexdigest()


def create_organization(*, name: str) -> Organization:
    return Organization.objects.create(name=name)


def create_user(
    *,
    organization: Organization,
    email: str,
    password: str,
    admin: bool = False,
    tags: list[str] | None = None,
) -> User:
    return User.objects.create_user(
        email,
        password,
        organization=organization,
        role=User.Role.ADMIN if admin else User.Role.MEMBER,
        tags=tags or [],
    )


def create_space(*, organization: Organization, key: str, name: str = "") -> Space:
    return Space.objects.create(organization=organization, key=key, name=name or key)


def create_secret_key(
    *, space: Space, name: str = "", created_by: User | None = None
) -> tuple[SecretKey, str]:
    """Create a key; the plain key is returned once and never stored."""
    prefix = KEY_PREFIX + secrets.token_hex(4)
    plain = f"{prefix}_{secrets.token_urlsafe(32)}"
    key = SecretKey.objects.create(
        space=space, name=name, prefix=prefix, key_hash=hash_key(plain), created_by=created_by
    )
    return key, plain


def revoke_secret_key(*, key: SecretKey) -> SecretKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    return key


def authenticate_secret_key(plain: str) -> SecretKey | None:
    """The active key matching `plain`, with its space and organization, or None."""
    if not plain.startswith(KEY_PREFIX) or len(plain) > 200:
        return None
    active = SecretKey.objects.select_related("space__organization")
    try:
        # The hash is unique: `get` asks for no ordering, unlike `first`.
        key = active.get(key_hash=hash_key(plain), revoked_at__isnull=True)
    except SecretKey.DoesNotExist:
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        with transaction.atomic():
            SecretKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


def save_hidden_columns(
    *, user: User, table: str, hidden: list[str], shown: list[str] | None = None
) -> None:
    choice = {"hidden_columns": hidden, "shown_columns": shown or []}
    user.table_preferences.update_or_create(table=table, defaults=choice)


def update_user(*, user: User, role: str, tags: list[str], by: User) -> User:
    """Change a person's role and tags (an admin's edit on the users page)."""
    with transaction.atomic():
        if role != User.Role.ADMIN:
            _keep_an_admin(user, by, "remove the admin role of")
        user.role = role
        user.tags = tags
        user.save(update_fields=["role", "tags"])
    return user


def set_user_active(*, user: User, active: bool, by: User) -> User:
    """Activate or deactivate a person; an inactive one can no longer log in."""
    with transaction.atomic():
        if not active:
            _keep_an_admin(user, by, "deactivate")
        user.is_active = active
        user.save(update_fields=["is_active"])
    return user


def _keep_an_admin(user: User, by: User, doing: str) -> None:
    """Refuse to lock `by` out, or to leave the organization without an active admin."""
    if user.pk == by.pk:
        raise Conflict(f"You cannot {doing} yourself.")
    # Locking the active admins serialises two admins demoting each other at once.
    admins = list(
        User.objects.select_for_update()
        .filter(organization=user.organization, role=User.Role.ADMIN, is_active=True)
        .values_list("pk", flat=True)
    )
    if admins == [user.pk]:
        raise Conflict(f"You cannot {doing} the last active admin of the organization.")


def set_time_zone(*, user: User, time_zone: str, organization: bool = False) -> None:
    """Set the person's time zone (empty: the organization's), or with `organization` the
    organization's default (an admin's)."""
    if time_zone not in TIME_ZONES and (organization or time_zone):
        raise Invalid("Choose a time zone from the list.", field=("time_zone",))
    if organization:
        assert user.organization is not None
        user.organization.time_zone = time_zone
        user.organization.save(update_fields=["time_zone"])
    else:
        user.time_zone = time_zone
        user.save(update_fields=["time_zone"])


def reveal_signing_secret(*, space: Space, by: User | None = None) -> str:
    audit.info("signing secret of space %s shown to %s", space.key, by.email if by else "CLI")
    return space.signing_secret


def rotate_signing_secret(*, space: Space, by: User | None = None) -> Space:
    """A new signing secret; the old one keeps signing beside it for the grace period (one
    earlier than that is dropped)."""
    with transaction.atomic():
        space = Space.objects.select_for_update().get(pk=space.pk)
        space.previous_signing_secret = space.signing_secret
        space.signing_secret = new_signing_secret()
        space.signing_secret_rotated_at = timezone.now()
        space.save(
            update_fields=["signing_secret", "previous_signing_secret", "signing_secret_rotated_at"]
        )
    audit.info("signing secret of space %s rotated by %s", space.key, by.email if by else "CLI")
    return space
