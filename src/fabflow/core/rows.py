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

On PostgreSQL the statements go out as prepared statements with server-side parameters (see
`execute`): the server parses and plans each shape once per connection, and psycopg's C
dumpers convert the values instead of quoting them into the SQL text in Python.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

from django.conf import settings
from django.db import connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, ForeignKey, Model

M = TypeVar("M", bound=Model)


ONLY_WHEN_ASKED = 2**31


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
    return execute(connection, sql, params)[1]


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
    for start in range(0, len(objs), batch):
        chunk = objs[start : start + batch]
        params = [
            field.get_db_prep_save(field.pre_save(obj, True), connection)
            for obj in chunk
            for field in fields
        ]
        execute(connection, head + ", ".join([row] * len(chunk)), params)
    for obj in objs:
        obj._state.adding = False
        obj._state.db = alias


def select(
    model: type[M],
    *,
    where: Mapping[str, Any],
    order_by: Sequence[str] = (),
    for_update: bool = False,
    related: Sequence[str] = (),
) -> list[M]:
    """The rows of `model` (all concrete fields) where each field of `where` equals its value:
    a list or tuple means IN, None means IS NULL. `order_by` names fields, `-` for descending.
    `related` names foreign keys to read in the same statement, as `select_related` does
    (`"space"`, then `"space__organization"`): a join, and the related rows cached on the
    instances. `for_update` locks the rows of `model` (not the related ones) until the
    transaction ends where the database has row locks (SQLite locks the whole database for a
    writing transaction instead)."""
    alias = router.db_for_write(model) if for_update else router.db_for_read(model)
    connection = connections[alias]
    quote = connection.ops.quote_name
    tests, params = [], []
    for name, value in where.items():
        field = _field(model, name)
        column = "t0." + quote(str(field.column))
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
    joins = _joins(model, tuple(related))
    sql = _select_sql(model, tuple(related), alias) + " AND ".join(tests or ["1 = 1"])
    if order_by:
        sql += " ORDER BY " + ", ".join(_order(model, name, quote) for name in order_by)
    if for_update and connection.features.has_select_for_update:
        sql += " FOR UPDATE OF t0" if joins else " FOR UPDATE"
    fetched = execute(connection, sql, params, fetch=True)[0]
    if not joins:
        return instances(model, fetched, alias)
    return _joined(model, joins, fetched, alias)


@dataclass(frozen=True)
class _Join:
    """A foreign key followed by `select(related=...)`: from the table of `parent` (an index
    into the joins, -1 for the main model) through `field` to the rows of `field`'s model."""

    parent: int
    field: ForeignKey[Any, Any]

    @property
    def model(self) -> type[Model]:
        return self.field.related_model  # type: ignore[return-value]


@cache
def _joins(model: type[Model], related: tuple[str, ...]) -> tuple[_Join, ...]:
    joins: list[_Join] = []
    paths: dict[str, int] = {}
    for path in related:
        head, _, name = path.rpartition("__")
        if head and head not in paths:
            raise ValueError(f"related: name {head!r} before {path!r}")
        parent = paths[head] if head else -1
        parent_model = joins[parent].model if head else model
        field = parent_model._meta.get_field(name)
        if not isinstance(field, ForeignKey):
            raise ValueError(f"{parent_model.__name__}.{name} is not a foreign key")
        paths[path] = len(joins)
        joins.append(_Join(parent, field))
    return tuple(joins)


def _joined(
    model: type[M], joins: tuple[_Join, ...], fetched: Sequence[Sequence[Any]], alias: str
) -> list[M]:
    """Split each fetched row into the main model's and each join's columns, and cache each
    related instance on its parent (None where a nullable key is NULL)."""
    widths = [len(_columns(model))] + [len(_columns(join.model)) for join in joins]
    bounds = [sum(widths[:i]) for i in range(len(widths) + 1)]
    tables = [
        (m, [row[bounds[i] : bounds[i + 1]] for row in fetched])
        for i, m in enumerate([model] + [join.model for join in joins])
    ]
    built = [instances(m, part, alias) for m, part in tables]
    for index, join in enumerate(joins, start=1):
        parents = built[join.parent + 1]
        for row_index, parent in enumerate(parents):
            child = built[index][row_index]
            join.field.set_cached_value(parent, None if child.pk is None else child)
    return built[0]  # type: ignore[return-value]


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


def execute(
    connection: BaseDatabaseWrapper, sql: str, params: Sequence[Any], *, fetch: bool = False
) -> tuple[list[Any], int]:
    """Run one statement; return its rows (when `fetch`) and its row count.

    On PostgreSQL, as a prepared statement with server-side parameters on the connection's
    psycopg connection (same session, transaction and adapters as the ORM's cursors), with
    the checks Django's cursor makes. Where Django records or wraps statements (`DEBUG`,
    `CaptureQueriesContext`, `execute_wrapper`), or on SQLite, through Django's cursor."""
    if (
        connection.vendor != "postgresql"
        or not settings.FABFLOW_PREPARED_STATEMENTS
        or connection.queries_logged
        or connection.execute_wrappers
    ):
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return (cursor.fetchall() if fetch else []), int(cursor.rowcount)
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    connection.validate_no_broken_transaction()
    pg = connection.connection
    if pg.prepare_threshold is None:
        # Django turns preparing off (None); a threshold no statement reaches turns it on for
        # the statements that ask for it (prepare=True) and no others.
        pg.prepare_threshold = ONLY_WHEN_ASKED
    with connection.wrap_database_errors, _server_cursor(connection) as cursor:
        cursor.execute(sql, params, prepare=True)
        return (cursor.fetchall() if fetch else []), int(cursor.rowcount)


def _server_cursor(connection: BaseDatabaseWrapper) -> Any:
    make = getattr(connection, "server_cursor", None)  # fabflow.core.postgresql's backend
    if make is not None:
        return make()
    import psycopg  # PostgreSQL only: SQLite installs need not have it.

    return psycopg.Cursor(connection.connection)


def _field(model: type[Model], name: str) -> Field[Any, Any]:
    field = model._meta.pk if name == "pk" else model._meta.get_field(name)
    if not isinstance(field, Field) or field.column is None:
        raise ValueError(f"{model.__name__}.{name} is not a column")
    return field


def _order(model: type[Model], name: str, quote: Any) -> str:
    column = "t0." + quote(str(_field(model, name.lstrip("-")).column))
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
def _select_sql(model: type[Model], related: tuple[str, ...], alias: str) -> str:
    quote = connections[alias].ops.quote_name
    names = [columns(model, "t0", alias)]
    tables = [f"{quote(model._meta.db_table)} t0"]
    for index, join in enumerate(_joins(model, related), start=1):
        names.append(columns(join.model, f"t{index}", alias))
        kind = "LEFT JOIN" if join.field.null else "JOIN"
        target = quote(str(_field(join.model, "pk").column))
        tables.append(
            f"{kind} {quote(join.model._meta.db_table)} t{index} "
            f"ON t{index}.{target} = t{join.parent + 1}.{quote(str(join.field.column))}"
        )
    return f"SELECT {', '.join(names)} FROM {' '.join(tables)} WHERE "  # noqa: S608


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
