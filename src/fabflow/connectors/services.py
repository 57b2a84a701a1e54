"""Writing connections, and the lookup handlers use to find theirs."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction
from pydantic import ValidationError

from fabflow.accounts.models import Space
from fabflow.connectors import selectors
from fabflow.connectors.models import Connection, ConnectionKind
from fabflow.connectors.schemas import CREDENTIALS
from fabflow.core.errors import Conflict, Invalid
from fabflow.flows.handlers.base import PermanentError

# Connections have no timeline: the log is the audit (names only, never a credential).
audit = logging.getLogger("fabflow.audit")
NAME = re.compile(r"^[-a-zA-Z0-9_]{1,100}$")
Problems = list[tuple[tuple[str | int, ...], str]]


def create_connection(
    *,
    space: Space,
    name: str,
    kind: str,
    base_url: str,
    credentials: Mapping[str, Any],
    by: str = "CLI",
) -> Connection:
    """A new connection of `space`; every wrong field is named at once (Invalid), a name the
    space already uses is a Conflict."""
    problems = _check(name=name, kind=kind, base_url=base_url)
    clean = _credentials(kind, _given(credentials), problems)
    if problems:
        raise Invalid("Some fields are invalid.", problems=problems)
    connection = Connection(
        organization=space.organization,
        space=space,
        name=name,
        kind=kind,
        base_url=base_url,
        credentials=clean,
    )
    _save(connection)
    audit.info("connection %s of space %s created by %s", name, space.key, by)
    return connection


def update_connection(
    *,
    connection: Connection,
    name: str | None = None,
    kind: str | None = None,
    base_url: str | None = None,
    credentials: Mapping[str, Any] | None = None,
    by: str = "CLI",
) -> Connection:
    """Change what is given; the rest keeps its stored value. Credentials merge field by field
    into the stored ones (a form's empty secret keeps the stored secret), unless the kind or
    the base URL changes: then the credentials are all required, so that nobody who may edit
    a connection can send its stored secrets to another address."""
    new_kind = connection.kind if kind is None else kind
    moved = base_url is not None and base_url != connection.base_url
    problems = _check(
        name=connection.name if name is None else name,
        kind=new_kind,
        base_url=connection.base_url if base_url is None else base_url,
    )
    given = _given(credentials or {})
    # Unreadable stored credentials (a lost key) are replaced by complete new ones.
    keeps = new_kind == connection.kind and not moved
    stored = (decrypted(connection) or {}) if keeps else {}
    clean = _credentials(new_kind, {**stored, **given}, problems)
    if problems:
        raise Invalid("Some fields are invalid.", problems=problems)
    connection.name = connection.name if name is None else name
    connection.kind = new_kind
    connection.base_url = connection.base_url if base_url is None else base_url
    connection.credentials = clean
    _save(connection)
    changed = sorted(given) if given else "no credential"
    audit.info(
        "connection %s of space %s updated by %s (credentials given: %s)",
        connection.name, connection.space.key, by, changed,
    )  # fmt: skip
    return connection


def _given(credentials: Mapping[str, Any]) -> dict[str, Any]:
    """The credentials given a value: an empty input (or null) is one not given."""
    return {name: value for name, value in credentials.items() if value not in ("", None)}


def _save(connection: Connection) -> None:
    try:
        with transaction.atomic():
            connection.save()
    except IntegrityError:
        raise Conflict(
            f"space {connection.space.key} already has a connection {connection.name!r}",
            field=("body", "name"),
            reason="already used in this space",
        ) from None


def _check(*, name: str, kind: str, base_url: str) -> Problems:
    problems: Problems = []
    if not NAME.match(name):
        problems.append((("body", "name"), "letters, digits, - and _ only (1 to 100)"))
    if kind not in ConnectionKind.values:
        problems.append((("body", "kind"), f"one of {', '.join(ConnectionKind.values)}"))
    url_problem = _url_problem(base_url)
    if url_problem:
        problems.append((("body", "baseUrl"), url_problem))
    return problems


def _url_problem(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        return "not a URL"
    if parts.scheme not in ("http", "https") or not parts.hostname or re.search(r"\s", url):
        return "an http:// or https:// URL"
    if parts.username is not None or parts.password is not None:
        # A URL is shown and logged; credentials belong in the encrypted credentials.
        return "no user or password in the URL: put them in credentials"
    return None


def _credentials(kind: str, given: Mapping[str, Any], problems: Problems) -> dict[str, str]:
    """The kind's credentials, validated; their problems are appended (never their values)."""
    model = CREDENTIALS.get(kind)
    if model is None:
        return {}
    try:
        return model.model_validate(dict(given)).model_dump()
    except ValidationError as exc:
        for error in exc.errors(include_input=False, include_url=False):
            loc = ("body", "credentials", *error["loc"])
            problems.append((loc, _reason(error["type"], error["msg"])))
        return {}


def _reason(kind: str, msg: str) -> str:
    return {"missing": "required", "extra_forbidden": "not a credential of this kind"}.get(
        kind, msg
    )


def decrypted(connection: Connection) -> dict[str, str] | None:
    """The decrypted credentials, or None when no key opens them: the library hands back the
    ciphertext when no key of FABFLOW_FIELD_KEYS (with SECRET_KEY and its fallbacks) fits."""
    value = connection.credentials
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        return None
    return dict(value)


UNREADABLE = (
    "the credentials of connection {name!r} cannot be decrypted: FABFLOW_FIELD_KEYS "
    "(or SECRET_KEY and SECRET_KEY_FALLBACKS) lacks the key they were encrypted with"
)


def connection_for(space_key: str, name: str, kind: str) -> Connection:
    """The connection a handler's payload names, of the kind the handler speaks; a missing or
    mismatched one fails the task for good with a reason an operator can act on."""
    found = selectors.connection(space_key, name)
    if found is None:
        raise PermanentError(f"no connection {name!r} in space {space_key}")
    if found.kind != kind:
        raise PermanentError(f"connection {name!r} is a {found.kind} connection, not {kind}")
    if decrypted(found) is None:
        raise PermanentError(UNREADABLE.format(name=name))
    return found


def reencrypt_connections() -> tuple[int, list[str]]:
    """Save every connection's credentials again: they are then encrypted with the first key
    of FABFLOW_FIELD_KEYS (the last step of a key rotation, docs/security.md). Returns how
    many were saved and the names (space/name) of those no key opens, which are left as
    they are."""
    saved, unreadable = 0, []
    for connection in Connection.objects.select_related("space").order_by("created_at"):
        if decrypted(connection) is None:
            unreadable.append(f"{connection.space.key}/{connection.name}")
            continue
        connection.save(update_fields=["credentials"])
        saved += 1
    return saved, unreadable
