"""Leases on flow runs: claiming due runs in batches, keeping the lease, giving it back.

A flow run with something to do has `due_at <= now`. Workers claim such runs straight from
their table (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so workers on many hosts never wait for
each other; SQLite has a single writer and needs no row locks), several per query. The lease
(`lease_owner`, `lease_until`) makes the claimer the only advancer of the run until it gives
the lease back or the lease expires: a killed worker's runs are claimed again after
FABFLOW_LEASE_SECONDS. See docs/adr/0005-the-engine-claims-flow-runs.md.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from fabflow.core import rows
from fabflow.flows.models import FlowInbox, FlowRun, TaskRun
from fabflow.flows.selectors import version
from fabflow.orders.models import Order


class LeaseLost(RuntimeError):
    """Another worker took the flow run over (our lease had expired)."""


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"[:64]


@dataclass
class Held:
    """A flow run whose lease this worker holds, with its rows in memory.

    Only the lease holder changes a flow run and its task runs, so these rows stay current;
    outside events arrive in the inbox, announced by a bump of `wake_seq`.
    """

    flow_run: FlowRun
    runs: list[TaskRun]
    inbox: list[FlowInbox]
    seq: int
    owner: str
    renewed: datetime
    begun: str | None = None  # the task run whose delivery is already recorded
    released: bool = False  # the lease was given back (the holder must stop)
    # Flow run columns a step changed, written when its transaction ends (see runner._flush).
    changes: dict[str, Any] = field(default_factory=dict)
    _by_id: dict[str, TaskRun] = field(default_factory=dict, repr=False)

    @property
    def order(self) -> Order:
        return self.flow_run.order

    def run(self, run_id: object) -> TaskRun | None:
        key = str(run_id)
        if key not in self._by_id or len(self._by_id) != len(self.runs):
            self._by_id = {str(r.id): r for r in self.runs}
        return self._by_id.get(key)


def _free(now: datetime) -> Q:
    return Q(lease_until__isnull=True) | Q(lease_until__lt=now)


def due_runs(now: datetime) -> QuerySet[FlowRun]:
    """Flow runs with work due by `now` that no worker holds (what a claim takes)."""
    return FlowRun.objects.filter(_free(now), due_at__lte=now)


def _lease_until(now: datetime) -> datetime:
    return now + timedelta(seconds=settings.FABFLOW_LEASE_SECONDS)


def claim(owner: str, limit: int) -> list[Held]:
    """Lease up to `limit` due flow runs, oldest due first, and load their rows."""
    now = timezone.now()
    if connection.vendor == "postgresql":
        leased = _claim_postgres(owner, limit, now)
    else:
        # SQLite: a plain read first (polling takes no write lock), then a guarded update.
        due = due_runs(now).order_by("due_at")
        ids = list(due.values_list("pk", flat=True)[:limit])
        if not ids:
            return []
        lease = {"lease_owner": owner, "lease_until": _lease_until(now)}
        with transaction.atomic():
            FlowRun.objects.filter(_free(now), pk__in=ids).update(**lease)
        leased = rows.select(FlowRun, where={"pk": ids, "lease_owner": owner})
    return _load(leased, owner, now)


# One statement, no BEGIN/COMMIT round trips: lock due runs no one else has locked (the CTE
# runs once, so LIMIT holds), lease them, return their rows. The ORM has no UPDATE ...
# RETURNING. Only names are formatted in (from the model); every value is a parameter.
_CLAIM_SQL = f"""
WITH due AS (
    SELECT id FROM {FlowRun._meta.db_table}
    WHERE due_at <= %s AND (lease_until IS NULL OR lease_until < %s)
    ORDER BY due_at LIMIT %s
    FOR UPDATE SKIP LOCKED
)
UPDATE {FlowRun._meta.db_table} AS run SET lease_owner = %s, lease_until = %s
FROM due WHERE run.id = due.id
RETURNING {rows.columns(FlowRun, "run")}
"""  # noqa: S608


def _claim_postgres(owner: str, limit: int, now: datetime) -> list[FlowRun]:
    params = [now, now, limit, owner, _lease_until(now)]
    return rows.instances(FlowRun, rows.execute(connection, _CLAIM_SQL, params, fetch=True)[0])


def hold(flow_run_id: str, owner: str) -> Held | None:
    """Lease one given flow run, due or not (tests, and runs the caller knows have work)."""
    now = timezone.now()
    mine = _free(now) | Q(lease_owner=owner)
    if not FlowRun.objects.filter(mine, pk=flow_run_id).update(
        lease_owner=owner, lease_until=_lease_until(now)
    ):
        return None
    held = _load(rows.select(FlowRun, where={"pk": flow_run_id}), owner, now)
    return held[0] if held else None


def _load(flow_runs: list[FlowRun], owner: str, now: datetime) -> list[Held]:
    """The leased runs' orders (with their spaces), task runs and unprocessed inbox, oldest
    due first: plain statements (`core.rows`), and versions from a cache (immutable)."""
    if not flow_runs:
        return []
    flow_runs.sort(key=lambda fr: fr.due_at or now)
    ids = [fr.order_id for fr in flow_runs]
    orders = {o.pk: o for o in rows.select(Order, where={"pk": ids}, related=("space",))}
    for flow_run in flow_runs:
        flow_run.order = orders[flow_run.order_id]
        flow_run.flow_version = version(flow_run.flow_version_id)
    ids = [fr.pk for fr in flow_runs]
    runs: dict[object, list[TaskRun]] = defaultdict(list)
    # A flow run that has not started has no task runs yet: they are written with the step
    # that starts it (a new order's first claim reads none).
    started = [fr.pk for fr in flow_runs if fr.status != FlowRun.Status.CREATED]
    for run in rows.select(TaskRun, where={"flow_run": started}, order_by=("created_at", "id")):
        runs[run.flow_run_id].append(run)
    inbox: dict[object, list[FlowInbox]] = defaultdict(list)
    unprocessed = {"flow_run": ids, "processed_at": None}
    for item in rows.select(FlowInbox, where=unprocessed, order_by=("id",)):
        inbox[item.flow_run_id].append(item)
    held = []
    for flow_run in flow_runs:
        if flow_run.order.flow_version_id == flow_run.flow_version_id:
            flow_run.order.flow_version = flow_run.flow_version
        for run in runs[flow_run.pk]:
            # The holder has these rows already; spare the lazy loads.
            run.flow_run, run.order = flow_run, flow_run.order
        held.append(
            Held(flow_run, runs[flow_run.pk], inbox[flow_run.pk], flow_run.wake_seq, owner, now)
        )
    return held


def keep_lease(held: Held, now: datetime) -> None:
    """Renew the lease once half of it has passed (not on every step: that is a write)."""
    if now - held.renewed < timedelta(seconds=settings.FABFLOW_LEASE_SECONDS / 2):
        return
    renewed = rows.update(
        FlowRun, held.flow_run.pk, {"lease_until": _lease_until(now)}, lease_owner=held.owner
    )
    if not renewed:
        raise LeaseLost(str(held.flow_run.pk))
    held.renewed = now


def release(held: Held, due: datetime | None, *, also: Mapping[str, Any] | None = None) -> bool:
    """Give the lease back, due again at `due`, unless an outside event arrived meanwhile:
    then load the new inbox items and return False (the holder goes on). `also` are other
    columns of the flow run to write, in the same statement, or without the release when an
    event arrived; they are written only while this worker holds the lease."""
    also = dict(also or {})
    free = {"lease_owner": "", "lease_until": None, "due_at": due, **also}
    released = rows.update(
        FlowRun, held.flow_run.pk, free, lease_owner=held.owner, wake_seq=held.seq
    )
    if released:
        return True
    row = FlowRun.objects.filter(pk=held.flow_run.pk).values_list("lease_owner", "wake_seq")
    current = row.first()
    if current is None or current[0] != held.owner:
        raise LeaseLost(str(held.flow_run.pk))
    if also:
        rows.update(FlowRun, held.flow_run.pk, also, lease_owner=held.owner)
    held.seq = current[1]
    known = {item.pk for item in held.inbox}
    fresh = FlowInbox.objects.filter(flow_run=held.flow_run, processed_at__isnull=True)
    held.inbox += [item for item in fresh if item.pk not in known]
    return False


def give_back(held: Held, *, due: datetime) -> None:
    """Give the lease back with the run due at `due`, whatever arrived meanwhile."""
    free = {"lease_owner": "", "lease_until": None, "due_at": due}
    rows.update(FlowRun, held.flow_run.pk, free, lease_owner=held.owner)


def wake(flow_run_id: uuid.UUID | str) -> None:
    """Make a flow run due now (in the caller's transaction) and tell idle workers."""
    rows.update(FlowRun, flow_run_id, {"due_at": timezone.now(), "wake_seq": rows.Add(1)})
    notify()


CHANNEL = "fabflow_flows"


def notify() -> None:
    """On PostgreSQL, NOTIFY the workers (delivered at commit); elsewhere they poll."""
    if connection.vendor == "postgresql":
        rows.execute(connection, "SELECT pg_notify(%s, '')", [CHANNEL])
