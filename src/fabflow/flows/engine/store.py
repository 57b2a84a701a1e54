"""The engine's tables: every write to flow runs, task runs and their inbox, and the reads that
load a leased flow run's rows. Nothing else writes these tables (actions post to the inbox here).

Outside events go to a run's inbox and bump `wake_seq`, so the lease holder gives the lease
back only while `wake_seq` is unchanged (docs/adr/0005-the-engine-claims-flow-runs.md). The
statements are hand-written from model metadata, once per shape, and run through Django's cursor
with values converted by the fields as the ORM does: the ORM doubled the engine's CPU time per
flow (docs/adr/0007-orm-and-djangos-postgresql-options.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from functools import cache
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model, Q, QuerySet
from django.utils import timezone

from fabflow.flows.models import FlowInbox, FlowRun, FlowVersion, TaskRun
from fabflow.orders.inserts import insert_rows
from fabflow.orders.models import Asset, Order, Part, Product

CHANNEL = "fabflow_flows"
M = TypeVar("M", bound=Model)


class InboxKind(StrEnum):
    """What an outside event in a flow run's inbox asks for."""

    START = "start"
    RESTART = "restart"
    RETRY = "retry"
    COMPLETE = "complete"  # a manual task completed by hand
    CONFIRM = "confirm"  # a confirmation link followed
    FEEDBACK_END = "feedback-end"  # a connector's success or failure


# Events that end a waiting task: a second one for the same task is refused.
ENDING = (InboxKind.COMPLETE, InboxKind.CONFIRM, InboxKind.FEEDBACK_END)


def notify() -> None:
    """On PostgreSQL, NOTIFY the workers (delivered at commit); elsewhere they poll."""
    if _db().vendor == "postgresql":
        _execute("SELECT pg_notify(%s, '')", [CHANNEL])


# Producers: new flow runs and outside events ---------------------------------------------------


def start_flow(*, order: Order, version: FlowVersion, actor: str = "") -> FlowRun:
    """Create the order's flow run, due at once for a worker to start (in the caller's atomic)."""
    flow_run = FlowRun(order=order, flow_version=version, due_at=timezone.now())
    insert_rows([flow_run])
    insert_rows([FlowInbox(flow_run=flow_run, kind=InboxKind.START, actor=actor)])
    notify()
    return flow_run


def post(
    flow_run_id: Any,
    kind: InboxKind,
    *,
    task_run: TaskRun | None = None,
    data: dict[str, Any] | None = None,
    actor: str = "",
) -> FlowInbox:
    """Queue an outside event for the flow run and wake it (in the caller's transaction). The
    item's id is not read back (the worker reads the inbox)."""
    item = FlowInbox(
        flow_run_id=flow_run_id, task_run=task_run, kind=kind, data=data or {}, actor=actor
    )
    insert_rows([item])
    wake(flow_run_id)
    return item


def wake(flow_run_id: Any) -> None:
    """Make a flow run due now and tell idle workers."""
    db = _db()
    sql = _update_sql(FlowRun, ("due_at",), (), db.vendor, adds=("wake_seq",))
    _execute(
        sql,
        [_prep(FlowRun, "due_at", timezone.now(), db), 1, _prep(FlowRun, "pk", flow_run_id, db)],
    )
    notify()


def lock_task_run(run_id: Any) -> TaskRun | None:
    """A task run with its order, locked until the transaction ends (where rows have locks)."""
    found = _select(TaskRun, "pk", [run_id], for_update=True, parent="order")
    return found[0] if found else None


def has_ending_event(task_run: TaskRun) -> bool:
    """Whether an event that ends the task waits in its flow run's inbox."""
    pending = _select(FlowInbox, "task_run", [task_run.pk], unset="processed_at")
    return any(item.kind in ENDING for item in pending)


# Leases ---------------------------------------------------------------------------------------


def free(now: datetime) -> Q:
    return Q(lease_until__isnull=True) | Q(lease_until__lt=now)


def due_runs(now: datetime) -> QuerySet[FlowRun]:
    """Flow runs with work due by `now` that no worker holds (what a claim takes)."""
    return FlowRun.objects.filter(free(now), due_at__lte=now)


def lease_due(owner: str, limit: int, now: datetime, until: datetime) -> list[FlowRun]:
    """Lease up to `limit` due flow runs, oldest due first."""
    db = _db()
    if db.vendor == "postgresql":
        params = [now, now, limit, owner, until]
        return _instances(FlowRun, _execute(_claim_sql(), params, fetch=True), db)
    due = due_runs(now).order_by("due_at")
    # SQLite (one writer, no row locks): a plain read first, so that an idle poll takes no
    # write lock, then an update that leases only what is still free.
    ids = list(due.values_list("pk", flat=True)[:limit])
    if not ids:
        return []
    with transaction.atomic():
        FlowRun.objects.filter(free(now), pk__in=ids).update(lease_owner=owner, lease_until=until)
    return list(FlowRun.objects.filter(pk__in=ids, lease_owner=owner))


@cache
def _claim_sql() -> str:
    # One statement (no BEGIN/COMMIT round trips): lock due runs no one else has locked (the
    # CTE runs once, so LIMIT holds), lease them, return their rows; the ORM has no UPDATE ...
    # RETURNING.
    table = _quote(FlowRun._meta.db_table)
    return f"""
WITH due AS (
    SELECT id FROM {table}
    WHERE due_at <= %s AND (lease_until IS NULL OR lease_until < %s)
    ORDER BY due_at LIMIT %s
    FOR UPDATE SKIP LOCKED
)
UPDATE {table} AS run SET lease_owner = %s, lease_until = %s
FROM due WHERE run.id = due.id
RETURNING {_columns(FlowRun, "run")}"""  # noqa: S608


def lease_one(flow_run_id: Any, owner: str, now: datetime, until: datetime) -> FlowRun | None:
    """Lease one flow run, due or not, unless another worker holds it."""
    mine = free(now) | Q(lease_owner=owner)
    if not FlowRun.objects.filter(mine, pk=flow_run_id).update(
        lease_owner=owner, lease_until=until
    ):
        return None
    return FlowRun.objects.get(pk=flow_run_id)


def renew_lease(flow_run: FlowRun, owner: str, until: datetime) -> bool:
    return bool(_update(FlowRun, flow_run.pk, {"lease_until": until}, lease_owner=owner))


def release_lease(
    flow_run: FlowRun,
    owner: str,
    seq: int | None,
    due: datetime | None,
    also: Mapping[str, Any] | None = None,
) -> bool:
    """Give the lease back, due again at `due`, with the other columns `also`, unless an
    outside event bumped `wake_seq` past `seq` (then nothing is written; None: whatever came)."""
    values = {"lease_owner": "", "lease_until": None, "due_at": due, **(also or {})}
    where = {"lease_owner": owner} if seq is None else {"lease_owner": owner, "wake_seq": seq}
    return bool(_update(FlowRun, flow_run.pk, values, **where))


def lease_state(flow_run: FlowRun) -> tuple[str, int] | None:
    """The flow run's lease owner and `wake_seq` as they are now (None: no such run)."""
    return FlowRun.objects.filter(pk=flow_run.pk).values_list("lease_owner", "wake_seq").first()


# A leased flow run's rows ----------------------------------------------------------------------


def orders_of(flow_runs: Sequence[FlowRun]) -> dict[Any, Order]:
    """The flow runs' orders, with their spaces."""
    orders = _select(Order, "pk", [fr.order_id for fr in flow_runs], parent="space")
    return {o.pk: o for o in orders}


def order_items(order: Order) -> tuple[list[Product], list[Part], list[Asset]]:
    """The order's products, parts and assets, for a handler's view of the order (read as
    `orders.selectors.order_items` reads them)."""
    return (
        _select(Product, "order", [order.pk], order_by=("position",)),
        _select(Part, "order", [order.pk], order_by=("product", "position")),
        _select(Asset, "order", [order.pk], order_by=("created_at", "id")),
    )


def task_runs_of(flow_run_ids: Sequence[Any]) -> list[TaskRun]:
    return _select(TaskRun, "flow_run", flow_run_ids, order_by=("created_at", "id"))


def inbox_of(flow_run_ids: Sequence[Any]) -> list[FlowInbox]:
    """The unprocessed outside events of the flow runs, oldest first."""
    return _select(FlowInbox, "flow_run", flow_run_ids, unset="processed_at", order_by=("id",))


def write_flow_run(flow_run: FlowRun, changes: Mapping[str, Any], *, owner: str = "") -> bool:
    """Write columns of a flow run (only while `owner` holds its lease, when given)."""
    where = {"lease_owner": owner} if owner else {}
    return bool(_update(FlowRun, flow_run.pk, changes, **where))


def write_run(row: TaskRun, changed: Mapping[str, Any]) -> None:
    """Change a task run in memory, and in the database unless it awaits its INSERT."""
    for name, value in changed.items():
        setattr(row, name, value)
    if not row._state.adding:
        _update(TaskRun, row.pk, changed)


def insert_new(runs: Sequence[TaskRun]) -> None:
    """INSERT the task runs a step created (in one statement)."""
    insert_rows([r for r in runs if r._state.adding])


def mark_processed(item: FlowInbox, now: datetime) -> None:
    item.processed_at = now
    _update(FlowInbox, item.pk, {"processed_at": now})


# The statements -------------------------------------------------------------------------------
# They take the connection itself, not Django's `connection` proxy: each attribute of the proxy
# is a lookup in a context-local, and the fields' conversions ask several per value.


def _db() -> BaseDatabaseWrapper:
    return connections[DEFAULT_DB_ALIAS]


def _execute(sql: str, params: Sequence[Any], *, fetch: bool = False) -> Any:
    """Run a statement through Django's cursor: its rows with `fetch`, else its row count."""
    with _db().cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if fetch else cursor.rowcount


def _update(model: type[Model], pk: Any, values: Mapping[str, Any], **where: Any) -> int:
    """UPDATE the row `pk` with `values` if each column of `where` holds its value; returns
    the number of rows changed (0 or 1)."""
    assert None not in where.values(), "a condition on NULL is never true"
    db = _db()
    params = [_field(model, n).get_db_prep_save(v, db) for n, v in values.items()]
    params += [_prep(model, n, v, db) for n, v in where.items()]
    params.append(_prep(model, "pk", pk, db))
    return int(_execute(_update_sql(model, tuple(values), tuple(where), db.vendor), params))


def _select(
    model: type[M],
    column: str,
    values: Sequence[Any],
    *,
    unset: str = "",
    order_by: tuple[str, ...] = (),
    for_update: bool = False,
    parent: str = "",
) -> list[M]:
    """The rows of `model` whose `column` is one of `values` (and `unset` IS NULL), with the
    row its foreign key `parent` names read in the same statement, locked with `for_update`
    where the database has row locks (SQLite locks the whole database instead)."""
    if not values:
        return []
    db = _db()
    shape = (model, column, len(values), unset, order_by, for_update, parent, db.vendor)
    fetched = _execute(
        _select_sql(*shape), [_prep(model, column, v, db) for v in values], fetch=True
    )
    if not parent:
        return _instances(model, fetched, db)
    related: Any = model._meta.get_field(parent).related_model
    width = len(_concrete(model))
    found = _instances(model, [row[:width] for row in fetched], db)
    parents = _instances(related, [row[width:] for row in fetched], db)
    for obj, parent_row in zip(found, parents, strict=True):
        setattr(obj, parent, parent_row)
    return found


@cache
def _select_sql(
    model: type[Model],
    column: str,
    count: int,
    unset: str,
    order_by: tuple[str, ...],
    for_update: bool,
    parent: str,
    vendor: str,
) -> str:
    tests = [f"t.{_column(model, column)} IN ({', '.join(['%s'] * count)})"]
    if unset:
        tests.append(f"t.{_column(model, unset)} IS NULL")
    names, source = _columns(model, "t"), f"{_quote(model._meta.db_table)} t"
    if parent:
        related: Any = model._meta.get_field(parent).related_model
        names += ", " + _columns(related, "p")
        source += f" JOIN {_quote(related._meta.db_table)} p"
        source += f" ON p.{_column(related, 'pk')} = t.{_column(model, parent)}"
    sql = f"SELECT {names} FROM {source} WHERE {' AND '.join(tests)}"  # noqa: S608
    if order_by:
        sql += " ORDER BY " + ", ".join(f"t.{_column(model, name)}" for name in order_by)
    if for_update and _db().features.has_select_for_update:
        sql += " FOR UPDATE OF t" if parent else " FOR UPDATE"
    return sql


def _instances(
    model: type[M], fetched: Sequence[Sequence[Any]], db: BaseDatabaseWrapper
) -> list[M]:
    """Model instances from rows of all concrete columns, converted as the ORM converts them
    (UUIDs, datetimes and booleans on SQLite, JSON)."""
    names, converters = _readers(model, db.vendor)
    objs = []
    for values in fetched:
        if converters:
            values = list(values)
            for index, convert, column in converters:
                for converter in convert:
                    values[index] = converter(values[index], column, db)
        objs.append(model.from_db(db.alias, names, values))
    return objs


def _quote(name: str) -> str:
    return str(_db().ops.quote_name(name))


def _field(model: type[Model], name: str) -> Field[Any, Any]:
    field = model._meta.pk if name == "pk" else model._meta.get_field(name)
    assert isinstance(field, Field) and field.column, f"{model.__name__}.{name}"
    return field


def _column(model: type[Model], name: str) -> str:
    return _quote(str(_field(model, name).column))


def _prep(model: type[Model], name: str, value: Any, db: BaseDatabaseWrapper) -> Any:
    return _field(model, name).get_db_prep_value(value, db)


def _concrete(model: type[Model]) -> list[Field[Any, Any]]:
    return [f for f in model._meta.concrete_fields if isinstance(f, Field)]


@cache
def _columns(model: type[Model], table: str = "") -> str:
    prefix = f"{table}." if table else ""
    return ", ".join(prefix + _quote(str(f.column)) for f in _concrete(model))


@cache
def _update_sql(
    model: type[Model],
    columns: tuple[str, ...],
    conditions: tuple[str, ...],
    vendor: str,
    adds: tuple[str, ...] = (),
) -> str:
    sets = [f"{_column(model, name)} = %s" for name in columns]
    sets += [f"{_column(model, name)} = {_column(model, name)} + %s" for name in adds]
    tests = " AND ".join(f"{_column(model, name)} = %s" for name in (*conditions, "pk"))
    return f"UPDATE {_quote(model._meta.db_table)} SET {', '.join(sets)} WHERE {tests}"  # noqa: S608


@cache
def _readers(model: type[Model], vendor: str) -> tuple[list[str], list[tuple[int, list[Any], Any]]]:
    """Attribute names in column order, and per column the converters the ORM would apply
    (the backend's, then the field's)."""
    db = _db()
    names, converters = [], []
    for index, field in enumerate(_concrete(model)):
        names.append(field.attname)
        column = field.get_col(model._meta.db_table)
        convert = db.ops.get_db_converters(column) + column.get_db_converters(db)
        if convert:
            converters.append((index, convert, column))
    return names, converters
