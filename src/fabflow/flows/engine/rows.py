"""Single-row UPDATEs for the engine's hot path, written from the model's metadata.

The ORM builds, compiles and converts a whole query for every `filter(...).update(...)`: about
a third of a millisecond of CPU, a dozen times per flow. The engine's updates are all of one
shape, "set these columns of the row with this id (if these columns still hold these
values)", so `update` writes that SQL once per shape and converts each value with its field
exactly as the ORM's UPDATE does (`get_db_prep_save` for new values, `get_db_prep_value` for
the conditions). Anything else (expressions, NULL conditions, several rows) uses the ORM.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from django.db import connections, router
from django.db.models import Field, Model


def update(model: type[Model], pk: Any, values: Mapping[str, Any], **where: Any) -> int:
    """UPDATE the row `pk` of `model` with `values` where each field of `where` equals its
    value (not None); returns the number of rows changed (0 or 1)."""
    if any(value is None for value in where.values()):
        raise ValueError("a condition on NULL needs the ORM (IS NULL)")
    alias = router.db_for_write(model)
    connection = connections[alias]
    sql = _sql(model, tuple(values), tuple(where), alias)
    params = [_field(model, name).get_db_prep_save(v, connection) for name, v in values.items()]
    params += [_field(model, name).get_db_prep_value(v, connection) for name, v in where.items()]
    params.append(_field(model, "pk").get_db_prep_value(pk, connection))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def _field(model: type[Model], name: str) -> Field[Any, Any]:
    field = model._meta.pk if name == "pk" else model._meta.get_field(name)
    if not isinstance(field, Field) or field.column is None:
        raise ValueError(f"{model.__name__}.{name} is not a column")
    return field


@cache
def _sql(
    model: type[Model], columns: tuple[str, ...], conditions: tuple[str, ...], alias: str
) -> str:
    quote = connections[alias].ops.quote_name

    def equals(name: str) -> str:
        return f"{quote(str(_field(model, name).column))} = %s"

    sets = ", ".join(equals(name) for name in columns)
    tests = " AND ".join(equals(name) for name in (*conditions, "pk"))
    return f"UPDATE {quote(model._meta.db_table)} SET {sets} WHERE {tests}"  # noqa: S608
