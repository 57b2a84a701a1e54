"""Reading connections."""

from __future__ import annotations

from fabflow.connectors.models import Connection


def connection(space_key: str, name: str) -> Connection | None:
    """The connection `name` of the space `space_key`, or None."""
    return Connection.objects.filter(space__key=space_key, name=name).first()
