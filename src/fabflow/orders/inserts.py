"""Intake's multi-row insert: the rows of a new order, its assets and timeline, and the flow
engine's new rows, many per statement (docs/adr/0007-orm-and-djangos-postgresql-options.md).

Hand-written because `bulk_create` built and compiled its query for every table of every order
and every engine step, a third of intake's CPU time and a fifth of the engine's. It writes what
`bulk_create` writes: every value converted by its field (`pre_save`, `get_db_prep_save`), the
database's own keys (auto-increment ids) left to it, no signals. Nothing is read back, so rows
whose key the database makes (timeline entries, inbox items) keep no id in memory. Statements run
through Django's cursor, logged and wrapped like the ORM's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Field, Model

# PostgreSQL takes at most 65,535 parameters per statement with server-side binding (SQLite
# 999, which Django's `bulk_batch_size` knows; it does not know PostgreSQL's).
MAX_PARAMS = 65_535


def insert_rows(objs: Sequence[Model], *, stamp_times: bool = True) -> None:
    """INSERT new rows of one model, in as few statements as the parameter limits allow.

    `stamp_times=False` keeps the times set on the objects in `auto_now(_add)` fields, which
    `pre_save` would overwrite with now (the seed command writes a year of history)."""
    if not objs:
        return
    model = type(objs[0])
    # The connection itself, not the `connection` proxy: every attribute of the proxy is a
    # lookup in a context-local, and the fields' conversions ask it several per value.
    db = connections[DEFAULT_DB_ALIAS]
    fields = _fields(model)
    stamped = (
        f for f in fields if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
    )
    kept = set() if stamp_times else set(stamped)
    batch = min(db.ops.bulk_batch_size(fields, objs), MAX_PARAMS // len(fields))
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    with db.cursor() as cursor:
        for start in range(0, len(objs), batch):
            chunk = objs[start : start + batch]
            params = [
                f.get_db_prep_save(
                    getattr(obj, f.attname) if f in kept else f.pre_save(obj, True), db
                )
                for obj in chunk
                for f in fields
            ]
            cursor.execute(_head(model, db.vendor) + ", ".join([row] * len(chunk)), params)
    for obj in objs:
        obj._state.adding, obj._state.db = False, db.alias


@cache
def _fields(model: type[Model]) -> list[Field[Any, Any]]:
    return [f for f in model._meta.concrete_fields if isinstance(f, Field) and not f.db_returning]


@cache
def _head(model: type[Model], vendor: str) -> str:
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    columns = ", ".join(quote(str(f.column)) for f in _fields(model))
    return f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES "  # noqa: S608
