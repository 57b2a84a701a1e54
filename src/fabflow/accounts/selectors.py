"""Reads of accounts for the web app."""

from __future__ import annotations

from fabflow.accounts.models import TablePreference, User


def hidden_columns(user: User, table: str) -> list[str] | None:
    """The columns `user` has hidden in the web table `table`, or None if they never chose."""
    saved = (
        TablePreference.objects.filter(user=user, table=table)
        .values_list("hidden_columns", flat=True)
        .first()
    )
    return None if saved is None else list(saved)
