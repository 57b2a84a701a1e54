"""Leases on flow runs: claiming due runs in batches, keeping the lease, giving it back.

A flow run with something to do has `due_at <= now`; its lease (`lease_owner`, `lease_until`)
makes the claimer its only advancer until it gives the lease back or the lease expires (a
killed worker's runs are claimed again after FABFLOW_LEASE_SECONDS). See
docs/adr/0005-the-engine-claims-flow-runs.md.
"""

from __future__ import annotations

import os
import socket
import threading
from collections import defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from fabflow.flows.engine import store
from fabflow.flows.engine.store import due_runs
from fabflow.flows.models import FlowInbox, FlowRun, TaskRun
from fabflow.flows.selectors import version
from fabflow.orders.models import Order

__all__ = [
    "Held",
    "LeaseLost",
    "claim",
    "due_runs",
    "give_back",
    "hold",
    "keep_lease",
    "lease_kept",
    "release",
]


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


def _lease_until(now: datetime) -> datetime:
    return now + timedelta(seconds=settings.FABFLOW_LEASE_SECONDS)


def claim(owner: str, limit: int) -> list[Held]:
    """Lease up to `limit` due flow runs, oldest due first, and load their rows."""
    now = timezone.now()
    return _load(store.lease_due(owner, limit, now, _lease_until(now)), owner, now)


def hold(flow_run_id: str, owner: str) -> Held | None:
    """Lease one given flow run, due or not (tests, and runs the caller knows have work)."""
    now = timezone.now()
    flow_run = store.lease_one(flow_run_id, owner, now, _lease_until(now))
    held = _load([flow_run], owner, now) if flow_run else []
    return held[0] if held else None


def _load(flow_runs: list[FlowRun], owner: str, now: datetime) -> list[Held]:
    """The leased runs' orders (with their spaces), task runs and unprocessed inbox, oldest
    due first; versions come from a cache (immutable)."""
    if not flow_runs:
        return []
    flow_runs.sort(key=lambda fr: fr.due_at or now)
    orders = store.orders_of(flow_runs)
    for flow_run in flow_runs:
        flow_run.order = orders[flow_run.order_id]
        flow_run.flow_version = version(flow_run.flow_version_id)
    runs: dict[object, list[TaskRun]] = defaultdict(list)
    # A flow run that has not started has no task runs yet: they are written with the step
    # that starts it (a new order's first claim reads none).
    started = [fr.pk for fr in flow_runs if fr.status != FlowRun.Status.CREATED]
    for run in store.task_runs_of(started):
        runs[run.flow_run_id].append(run)
    inbox: dict[object, list[FlowInbox]] = defaultdict(list)
    for item in store.inbox_of([fr.pk for fr in flow_runs]):
        inbox[item.flow_run_id].append(item)
    held = []
    for flow_run in flow_runs:
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
    if not store.renew_lease(held.flow_run, held.owner, _lease_until(now)):
        raise LeaseLost(str(held.flow_run.pk))
    held.renewed = now


@contextmanager
def lease_kept(held: Held) -> Iterator[None]:
    """Renew the lease from a thread while the holder is busy in one long call (a handler
    rendering a model for minutes), so that no other worker takes the run over meanwhile."""
    stop = threading.Event()

    def renew() -> None:
        try:
            while not stop.wait(settings.FABFLOW_LEASE_SECONDS / 3):
                now = timezone.now()
                if not store.renew_lease(held.flow_run, held.owner, _lease_until(now)):
                    return  # lost: the holder finds out at its next keep_lease
                held.renewed = now
        finally:
            connection.close()  # this thread's own connection, if it opened one

    keeper = threading.Thread(target=renew, name=f"lease-{held.flow_run.pk}", daemon=True)
    keeper.start()
    try:
        yield
    finally:
        stop.set()
        keeper.join()


def release(held: Held, due: datetime | None, *, also: Mapping[str, Any] | None = None) -> bool:
    """Give the lease back, due again at `due`, unless an outside event arrived meanwhile:
    then load the new inbox items and return False (the holder goes on). `also` are other
    columns of the flow run to write, in the same statement, or without the release when an
    event arrived; they are written only while this worker holds the lease."""
    also = dict(also or {})
    if store.release_lease(held.flow_run, held.owner, held.seq, due, also):
        return True
    current = store.lease_state(held.flow_run)
    if current is None or current[0] != held.owner:
        raise LeaseLost(str(held.flow_run.pk))
    if also:
        store.write_flow_run(held.flow_run, also, owner=held.owner)
    held.seq = current[1]
    known = {item.pk for item in held.inbox}
    held.inbox += [i for i in store.inbox_of([held.flow_run.pk]) if i.pk not in known]
    return False


def give_back(held: Held, *, due: datetime) -> None:
    """Give the lease back with the run due at `due`, whatever arrived meanwhile."""
    store.release_lease(held.flow_run, held.owner, None, due)
