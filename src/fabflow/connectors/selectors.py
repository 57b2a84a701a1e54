"""Reading connections: scoped to a principal, and with their credentials masked."""

from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet
from django.http import Http404

from fabflow.accounts.auth import Principal
from fabflow.accounts.models import Space
from fabflow.connectors.models import Connection

MASK = "••••"
# Shorter values show no character at all: four of eight is already half of the secret.
SHOWN_FROM_LENGTH = 8


def connection(space_key: str, name: str) -> Connection | None:
    """The connection `name` of the space `space_key`, or None."""
    return Connection.objects.filter(space__key=space_key, name=name).first()


def connections_for(who: Principal, *, space: Space | None = None) -> QuerySet[Connection]:
    """The connections the principal may see (a key: its space's), optionally of one space."""
    rows = Connection.objects.filter(organization=who.organization).select_related("space")
    if who.space is not None:
        rows = rows.filter(space=who.space)
    if space is not None:
        rows = rows.filter(space=space)
    return rows.order_by("space__key", "name")


def connection_or_404(who: Principal, connection_id: UUID) -> Connection:
    """One connection the principal may see; another tenant's id is not found."""
    found = connections_for(who).filter(pk=connection_id).first()
    if found is None:
        raise Http404("not found")
    return found


def masked(credentials: object) -> dict[str, str]:
    """The credentials as the API and the web page show them: `••••` and the last four
    characters of each value ({} when they cannot be decrypted)."""
    if not isinstance(credentials, dict):
        return {}
    return {name: mask(str(value)) for name, value in credentials.items()}


def mask(value: str) -> str:
    return MASK + value[-4:] if len(value) >= SHOWN_FROM_LENGTH else MASK
