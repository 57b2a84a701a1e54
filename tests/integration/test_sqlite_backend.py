"""The SQLite backend's write lock: writers queue in the process and wait without long sleeps."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from django.db import OperationalError, connection, connections, transaction

from fabflow.orders.models import Order
from tests.factories import make_tenant

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's write lock"),
]


@pytest.fixture
def short_timeout() -> Iterator[None]:
    """Connections opened in the test wait at most 0.3 s for the write lock."""
    options = connection.settings_dict["OPTIONS"]
    before = options["timeout"]
    options["timeout"] = 0.3
    yield
    options["timeout"] = before


def in_thread(target: object) -> threading.Thread:
    def run() -> None:
        try:
            target()  # type: ignore[operator]
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_writer_waits_for_the_holder_and_then_writes() -> None:
    # given a transaction that holds the write lock until told to commit
    tenant = make_tenant("Lock", "lock-space")
    holding, release, written = threading.Event(), threading.Event(), []

    def holder() -> None:
        with transaction.atomic():
            Order.objects.filter(space=tenant.space).update(name="held")
            holding.set()
            release.wait(10)

    def writer() -> None:
        with transaction.atomic():
            written.append(Order.objects.filter(space=tenant.space).update(name="second"))

    first = in_thread(holder)
    assert holding.wait(10)
    # when a second thread of the same process starts a write transaction
    second = in_thread(writer)
    second.join(0.2)
    # then it waits for the lock, and writes once the holder committed
    assert second.is_alive() and written == []
    release.set()
    first.join(10)
    second.join(10)
    assert written == [0]


def test_a_writer_gives_up_after_the_timeout_with_database_is_locked(short_timeout: None) -> None:
    holding, release, errors = threading.Event(), threading.Event(), []

    def holder() -> None:
        with transaction.atomic():
            holding.set()
            release.wait(10)

    def writer() -> None:
        try:
            with transaction.atomic():
                pass
        except OperationalError as exc:
            errors.append(str(exc))

    first = in_thread(holder)
    assert holding.wait(10)
    in_thread(writer).join(10)
    release.set()
    first.join(10)
    assert errors == ["database is locked"]


def test_a_rolled_back_or_failed_transaction_gives_the_lock_back(short_timeout: None) -> None:
    # given transactions that end by an exception and by a failed statement
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        _ = 1 / 0
    with pytest.raises(OperationalError), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table")
    # then another thread can take the write lock at once
    done: list[bool] = []

    def writer() -> None:
        with transaction.atomic():
            done.append(True)

    in_thread(writer).join(10)
    assert done == [True]


def test_another_process_holding_the_lock_is_waited_for() -> None:
    """A writer of another process (here: a plain sqlite3 connection) is polled for."""
    import sqlite3

    name = str(connection.settings_dict["NAME"])
    other = sqlite3.connect(name, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    timer = threading.Timer(0.3, lambda: other.execute("COMMIT"))
    timer.start()
    try:
        with transaction.atomic():
            pass  # would raise "database is locked" if the poll gave up before the COMMIT
    finally:
        timer.join()
        other.close()
