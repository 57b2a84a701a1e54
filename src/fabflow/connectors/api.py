"""Connections endpoints: organization admins (session) and a space's secret key (its space)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.http import HttpRequest
from ninja import Router, Status

from fabflow.accounts import selectors as account_selectors
from fabflow.accounts.auth import Principal, principal
from fabflow.accounts.models import Space
from fabflow.connectors import selectors, services
from fabflow.connectors.models import Connection
from fabflow.connectors.schemas import (
    ConnectionIn,
    ConnectionOut,
    ConnectionPage,
    ConnectionTestOut,
    ConnectionUpdateIn,
)
from fabflow.connectors.testing import run_test
from fabflow.core.problems import ApiError, invalid

router = Router(tags=["connections"])


def connection_json(connection: Connection) -> dict[str, Any]:
    """A connection as the API shows it: credentials masked, never their values."""
    return {
        "id": connection.id,
        "spaceKey": connection.space.key,
        "name": connection.name,
        "kind": connection.kind,
        "baseUrl": connection.base_url,
        "credentials": selectors.masked(connection.credentials),
        "createdAt": connection.created_at,
        "updatedAt": connection.updated_at,
    }


def _manager(request: HttpRequest) -> Principal:
    """The caller, if they manage connections: a secret key, or an organization admin."""
    who = principal(request)
    if who.space is None and not getattr(request.user, "is_org_admin", False):
        raise ApiError(403, "Connections are managed by organization admins.")
    return who


def _space(who: Principal, key: str | None, loc: tuple[str, str]) -> Space | None:
    """The space `key` names, if the caller may manage it (None: no key given)."""
    if not key:
        return None
    if "\x00" in key:
        raise invalid(loc, "NUL characters are not allowed")
    if who.space is not None:
        if key != who.space.key:
            raise ApiError(
                403,
                "This secret key belongs to another space.",
                errors=[{"loc": list(loc), "msg": "not this key's space"}],
            )
        return who.space
    space = account_selectors.space_by_key(organization=who.organization, key=key)
    if space is None:
        raise invalid(loc, f"unknown space {key!r}")
    return space


@router.get("/connections", response=ConnectionPage, operation_id="list_connections")
def list_connections(request: HttpRequest, spaceKey: str | None = None) -> dict[str, Any]:
    """The connections the caller manages, optionally of one space."""
    who = _manager(request)
    space = _space(who, spaceKey, ("query", "spaceKey"))
    rows = selectors.connections_for(who, space=space)
    return {"items": [connection_json(c) for c in rows], "next": None}


@router.post("/connections", response={201: ConnectionOut}, operation_id="create_connection")
def create_connection(request: HttpRequest, payload: ConnectionIn) -> Any:
    """A new connection; its credentials are checked against its kind and stored encrypted."""
    who = _manager(request)
    space = _space(who, payload.spaceKey, ("body", "spaceKey")) or who.space
    if space is None:
        raise invalid(("body", "spaceKey"), "required when not calling with a secret key")
    connection = services.create_connection(
        space=space,
        name=payload.name,
        kind=payload.kind,
        base_url=payload.baseUrl,
        credentials=payload.credentials,
        by=who.actor,
    )
    return Status(201, connection_json(connection))


@router.get("/connections/{connection_id}", response=ConnectionOut, operation_id="get_connection")
def get_connection(request: HttpRequest, connection_id: UUID) -> dict[str, Any]:
    return connection_json(selectors.connection_or_404(_manager(request), connection_id))


@router.put(
    "/connections/{connection_id}", response=ConnectionOut, operation_id="update_connection"
)
def update_connection(
    request: HttpRequest, connection_id: UUID, payload: ConnectionUpdateIn
) -> dict[str, Any]:
    """Change the fields given; omitted ones, and omitted credentials, keep their values."""
    who = _manager(request)
    connection = selectors.connection_or_404(who, connection_id)
    services.update_connection(
        connection=connection,
        name=payload.name,
        kind=payload.kind,
        base_url=payload.baseUrl,
        credentials=payload.credentials,
        by=who.actor,
    )
    return connection_json(connection)


@router.post(
    "/connections/{connection_id}/test",
    response=ConnectionTestOut,
    operation_id="test_connection",
)
def test_connection(request: HttpRequest, connection_id: UUID) -> dict[str, Any]:
    """Make a harmless authenticated call to the partner and say what it answered."""
    result = run_test(selectors.connection_or_404(_manager(request), connection_id))
    return {"ok": result.ok, "status": result.status, "message": result.message}
