"""Reads of accounts: people, spaces, secret keys and table preferences, scoped to an
organization."""

from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from fabflow.accounts.models import Organization, SecretKey, Space, TablePreference, User


def column_choice(user: User, table: str) -> tuple[list[str], list[str]] | None:
    """The columns `user` has hidden and shown in the web table `table` (None: never chose)."""
    return (
        TablePreference.objects.filter(user=user, table=table)
        .values_list("hidden_columns", "shown_columns")
        .first()
    )


def organization_users(organization: Organization) -> QuerySet[User]:
    return User.objects.filter(organization=organization).order_by("-is_active", "email")


def organization_user_or_404(*, organization: Organization, user_id: int) -> User:
    """One person of the organization; someone else's id is simply not found."""
    return get_object_or_404(User, pk=user_id, organization=organization)


def organization_keys(organization: Organization) -> QuerySet[SecretKey]:
    return (
        SecretKey.objects.filter(space__organization=organization)
        .select_related("space")
        .order_by("space__key", "-created_at")
    )


def organization_key_or_404(*, organization: Organization, key_id: UUID) -> SecretKey:
    """One secret key of the organization's spaces; another tenant's key is not found."""
    return get_object_or_404(SecretKey, pk=key_id, space__organization=organization)


def organization_spaces(organization: Organization) -> QuerySet[Space]:
    return Space.objects.filter(organization=organization).order_by("key")


def organization_space_or_404(*, organization: Organization, space_id: UUID) -> Space:
    return get_object_or_404(Space, pk=space_id, organization=organization)


def space_by_key(*, organization: Organization | None, key: str) -> Space | None:
    return Space.objects.filter(organization=organization, key=key).first()
