"""Writes for organizations, users, spaces and secret keys."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from fabflow.accounts.models import Organization, SecretKey, Space, User

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


def save_hidden_columns(*, user: User, table: str, hidden: list[str]) -> None:
    """Remember which columns of the web table `table` the user has hidden."""
    user.table_preferences.update_or_create(table=table, defaults={"hidden_columns": hidden})


def update_user(*, user: User, role: str, tags: list[str]) -> User:
    """Change a person's role and tags (an admin's edit on the users page)."""
    user.role = role
    user.tags = tags
    user.save(update_fields=["role", "tags"])
    return user


def set_user_active(*, user: User, active: bool) -> User:
    """Activate or deactivate a person; an inactive one can no longer log in."""
    user.is_active = active
    user.save(update_fields=["is_active"])
    return user
