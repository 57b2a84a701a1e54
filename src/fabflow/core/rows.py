"""Plain statements for the hot paths (engine steps, intake, feedback), written from metadata.

The ORM builds and compiles a whole query object for every `filter(...)`, `update(...)` or
`bulk_create(...)`: a third of a millisecond of CPU or more, dozens of times per flow, and
most of the worker's and the web server's Python time under load. The hot statements are
all of a few shapes: "set these columns of the row with this id (if these columns still hold
these values)", "insert these new rows", "read the rows whose columns equal these values".
This module writes the SQL of each shape once and converts every value with its field
exactly as the ORM does (`pre_save` and `get_db_prep_save` going in, the backend's and the
field's converters and `Model.from_db` coming out), so the rows are the ORM's rows. No
signals are sent (as with `bulk_create` and `QuerySet.update`). Anything else uses the ORM.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

from django.db import connections, router
from django.db.models import Field, Model

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class Add:
    """A value for `update`: the column's current value plus `amount` (F(...) + amount)."""

    amount: int


def update(model: type[Model], pk: Any, values: Mapping[str, Any], **where: Any) -> int:
    """UPDATE the row `pk` of `model` with `values` where each field of `where` equals its
    value (not None); returns the number of rows changed (0 or 1)."""
    if any(value is None for value in where.values()):
        raise ValueError("a condition on NULL needs the ORM (IS NULL)")
    alias = router.db_for_write(model)
    connection = connections[alias]
    adds = tuple(name for name, value in values.items() if isinstance(value, Add))
    sql = _update_sql(model, tuple(values), tuple(where), adds, alias)
    params = [
        v.amount if isinstance(v, Add) else _field(model, name).get_db_prep_save(v, connection)
        for name, v in values.items()
    ]
    params += [_field(model, name).get_db_prep_value(v, connection) for name, v in where.items()]
    params.append(_field(model, "pk").get_db_prep_value(pk, connection))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def insert(objs: Sequence[Model]) -> None:
    """INSERT new objects of one model, several rows per statement, without reading anything
    back: for rows whose key is set in Python (UUIDs) or never needed (timeline entries)."""
    if not objs:
        return
    model = type(objs[0])
    alias = router.db_for_write(model)
    connection = connections[alias]
    fields = _insert_fields(model)
    batch = max(1, connection.ops.bulk_batch_size(fields, objs))
    head = _insert_sql(model, alias)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    with connection.cursor() as cursor:
        for start in range(0, len(objs), batch):
            chunk = objs[start : start + batch]
            params = [
                field.get_db_prep_save(field.pre_save(obj, True), connection)
                for obj in chunk
                for field in fields
            ]
            cursor.execute(head + ", ".join([row] * len(chunk)), params)
    for obj in objs:
        obj._state.adding = False
        obj._state.db = alias


def select(
    model: type[M],
    *,
    where: Mapping[str, Any],
    order_by: Sequence[str] = (),
    for_update: bool = False,
) -> list[M]:
    """The rows of `model` (all concrete fields) where each field of `where` equals its value:
    a list or tuple means IN, None means IS NULL. `order_by` names fields, `-` for descending.
    `for_update` locks the rows until the transaction ends where the database has row locks
    (SQLite locks the whole database for a writing transaction instead)."""
    alias = router.db_for_write(model) if for_update else router.db_for_read(model)
    connection = connections[alias]
    quote = connection.ops.quote_name
    tests, params = [], []
    for name, value in where.items():
        field = _field(model, name)
        column = quote(str(field.column))
        if value is None:
            tests.append(f"{column} IS NULL")
        elif isinstance(value, (list, tuple)):
            if not value:
                return []
            tests.append(f"{column} IN ({', '.join(['%s'] * len(value))})")
            params += [field.get_db_prep_value(v, connection) for v in value]
        else:
            tests.append(f"{column} = %s")
            params.append(field.get_db_prep_value(value, connection))
    sql = _select_sql(model, alias) + " AND ".join(tests or ["1 = 1"])
    if order_by:
        sql += " ORDER BY " + ", ".join(_order(model, name, quote) for name in order_by)
    if for_update and connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return instances(model, cursor.fetchall(), alias)


def columns(model: type[Model], table: str, alias: str = "default") -> str:
    """The model's columns, qualified by `table`, in the order `instances` reads them (for a
    statement of one's own, such as UPDATE ... RETURNING)."""
    quote = connections[alias].ops.quote_name
    return ", ".join(f"{table}.{quote(str(f.column))}" for f in _columns(model))


def instances(model: type[M], fetched: Sequence[Sequence[Any]], alias: str = "default") -> list[M]:
    """Model instances from rows of all concrete columns in `columns` order."""
    connection = connections[alias]
    names, converters = _readers(model, alias)
    objs = []
    for values in fetched:
        if converters:
            values = list(values)
            for index, convert in converters:
                for converter, expression in convert:
                    values[index] = converter(values[index], expression, connection)
        objs.append(model.from_db(alias, names, values))
    return objs


def _field(model: type[Model], name: str) -> Field[Any, Any]:
    field = model._meta.pk if name == "pk" else model._meta.get_field(name)
    if not isinstance(field, Field) or field.column is None:
        raise ValueError(f"{model.__name__}.{name} is not a column")
    return field


def _order(model: type[Model], name: str, quote: Any) -> str:
    column = quote(str(_field(model, name.lstrip("-")).column))
    return f"{column} DESC" if name.startswith("-") else column


def _columns(model: type[Model]) -> list[Field[Any, Any]]:
    return [f for f in model._meta.concrete_fields if isinstance(f, Field)]


@cache
def _update_sql(
    model: type[Model],
    columns: tuple[str, ...],
    conditions: tuple[str, ...],
    adds: tuple[str, ...],
    alias: str,
) -> str:
    quote = connections[alias].ops.quote_name

    def equals(name: str) -> str:
        return f"{quote(str(_field(model, name).column))} = %s"

    def sets_to(name: str) -> str:
        column = quote(str(_field(model, name).column))
        return f"{column} = {column} + %s" if name in adds else f"{column} = %s"

    sets = ", ".join(sets_to(name) for name in columns)
    tests = " AND ".join(equals(name) for name in (*conditions, "pk"))
    return f"UPDATE {quote(model._meta.db_table)} SET {sets} WHERE {tests}"  # noqa: S608


@cache
def _insert_fields(model: type[Model]) -> list[Field[Any, Any]]:
    # Database-made values (auto-increment ids, generated columns) are left to the database,
    # as bulk_create does.
    return [f for f in _columns(model) if not f.db_returning and not getattr(f, "generated", False)]


@cache
def _insert_sql(model: type[Model], alias: str) -> str:
    quote = connections[alias].ops.quote_name
    columns = ", ".join(quote(str(f.column)) for f in _insert_fields(model))
    return f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES "  # noqa: S608


@cache
def _select_sql(model: type[Model], alias: str) -> str:
    table = connections[alias].ops.quote_name(model._meta.db_table)
    return f"SELECT {columns(model, table, alias)} FROM {table} WHERE "  # noqa: S608


@cache
def _readers(model: type[Model], alias: str) -> tuple[list[str], list[tuple[int, list[Any]]]]:
    """Attribute names in column order, and per column the converters the ORM would apply
    (the backend's, then the field's): UUIDs, datetimes and booleans on SQLite, JSON."""
    connection = connections[alias]
    names, converters = [], []
    for index, field in enumerate(_columns(model)):
        names.append(field.attname)
        column = field.get_col(model._meta.db_table)
        convert = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        if convert:
            converters.append((index, [(c, column) for c in convert]))
    return names, converters
