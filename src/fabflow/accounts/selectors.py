"""Reads of accounts that every page request makes."""

from __future__ import annotations

import weakref
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.db import connections
from django.db.models import Aggregate, Func, JSONField, OuterRef, Subquery

from fabflow.accounts.models import Organization, TablePreference, User
from fabflow.core import rows

# Set by session_user: {table name: hidden column keys} of every table the user has changed.
HIDDEN_COLUMNS = "hidden_columns_by_table"


class _JSONObjectAgg(Aggregate):
    """A JSON object of the grouped rows' keys and (JSON) values."""

    function = "JSONB_OBJECT_AGG"  # PostgreSQL; jsonb, which Django's JSONField reads as text
    output_field = JSONField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        key, value, *rest = self.get_source_expressions()  # rest: the FILTER (None)
        clone = self.copy()  # JSON(): the value is a JSON document, not a string
        clone.set_source_expressions([key, Func(value, function="JSON"), *rest])
        return clone.as_sql(compiler, connection, function="JSON_GROUP_OBJECT", **extra)


@dataclass(frozen=True)
class _Compiled:
    """The query of session_user as the ORM writes it, and where its columns land."""

    sql: str
    converters: list[tuple[int, list[Any], Any]]
    user: tuple[list[int], list[str]]  # positions in the row, attnames
    organization: tuple[list[int], list[str]]
    hidden_columns: int


_compiled: weakref.WeakKeyDictionary[Any, _Compiled] = weakref.WeakKeyDictionary()
# (user id, user) read with the session of the request being handled (core/sessions.py).
_read_with_session: ContextVar[tuple[str, User | None] | None] = ContextVar(
    "read_with_session", default=None
)


def session_user(user_id: Any, using: str = "default") -> User | None:
    """The user of a session, with their organization and table preferences, in one query
    (what every page reads: three queries before), or as read with the session just before
    (keep_read_with_session).

    Every request reads it, so its SQL is compiled once per connection (the ORM took 1.4 ms
    to build and compile it, more than the query takes); the row is converted and turned
    into models as the ORM would."""
    kept = _read_with_session.get()
    if kept is not None:
        _read_with_session.set(None)  # once: the next request reads its session again
        if kept[0] == str(user_id):
            return kept[1]
    connection = connections[using]
    compiled = _compiled_for(connection)
    fetched = rows.execute(connection, compiled.sql, [user_id], fetch=True)[0]  # prepared
    row = fetched[0] if fetched else None
    return None if row is None else _user(compiled, using, connection, row)


def user_sql(using: str = "default") -> str:
    """The statement of session_user, whose one parameter is the user's id."""
    return _compiled_for(connections[using]).sql


def keep_read_with_session(user_id: Any, row: Any, using: str = "default") -> None:
    """Keep the user read with a session (the columns of user_sql, all NULL if there is no
    such user) for the session_user(user_id) that follows: one round trip for both."""
    connection = connections[using]
    compiled = _compiled_for(connection)
    found = row[compiled.user[0][compiled.user[1].index("id")]] is not None
    user = _user(compiled, using, connection, row) if found else None
    _read_with_session.set((str(user_id), user))


def forget_read_with_session() -> None:
    _read_with_session.set(None)


def _compiled_for(connection: Any) -> _Compiled:
    compiled = _compiled.get(connection)
    if compiled is None:
        compiled = _compiled[connection] = _compile(connection)
    return compiled


def _user(compiled: _Compiled, using: str, connection: Any, fetched: Any) -> User:
    row = list(fetched)
    for position, converters, expression in compiled.converters:
        for converter in converters:
            row[position] = converter(row[position], expression, connection)
    user = User.from_db(using, compiled.user[1], [row[i] for i in compiled.user[0]])
    values = [row[i] for i in compiled.organization[0]]
    organization = None
    if values[compiled.organization[1].index("id")] is not None:
        organization = Organization.from_db(using, compiled.organization[1], values)
    User._meta.get_field("organization").set_cached_value(user, organization)
    setattr(user, HIDDEN_COLUMNS, row[compiled.hidden_columns] or {})
    return user


def _compile(connection: Any) -> _Compiled:
    prefs = (
        TablePreference.objects.filter(user=OuterRef("pk"))
        .order_by()
        .values("user")
        .annotate(by_table=_JSONObjectAgg("table", "hidden_columns"))
        .values("by_table")
    )
    users = (
        User.objects.select_related("organization")
        .annotate(hidden_columns=Subquery(prefs, output_field=JSONField()))
        .filter(pk=0)
        .order_by()
    )
    compiler = users.query.get_compiler(connection=connection)
    sql, params = compiler.as_sql()
    assert list(params) == [0], params  # the user's id is the only parameter
    select = [s[0] for s in compiler.select[: compiler.col_count]]
    converters = compiler.get_converters(select)
    klass_info = compiler.klass_info
    assert klass_info is not None

    def columns(info: dict[str, Any]) -> tuple[list[int], list[str]]:
        positions = list(info["select_fields"])
        return positions, [select[i].target.attname for i in positions]

    return _Compiled(
        sql=sql,
        converters=[(i, convs, expr) for i, (convs, expr) in converters.items()],
        user=columns(klass_info),
        organization=columns(klass_info["related_klass_infos"][0]),
        hidden_columns=compiler.annotation_col_map["hidden_columns"],
    )
