"""Django's SQLite backend, with writers that queue for the write lock instead of sleeping.

Every write transaction starts with `BEGIN IMMEDIATE` (settings: `transaction_mode`), where
SQLite's busy handler sleeps up to 100 ms although the lock is usually free again within a
millisecond (ADR 0008). This backend waits at that BEGIN, the one place where a retry is safe
(nothing of the transaction has run yet): threads of one process queue on a lock of the process
(woken as soon as the holder commits or rolls back), and the one at the head asks SQLite with
its busy handler off, every `POLL_SECONDS` until the `timeout`, then fails with "database is
locked" as SQLite would. Statements outside a transaction keep SQLite's busy handler.
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
from typing import Any

from django.db.backends.sqlite3 import base

POLL_SECONDS = 0.0005
_locks: dict[str, threading.Lock] = {}
# A child starts with no transaction: locks copied from the parent must not stay taken.
os.register_at_fork(after_in_child=_locks.clear)


def _process_lock(name: str) -> threading.Lock:
    # setdefault is atomic: threads that race for a new name all get the lock it keeps.
    return _locks.setdefault(name, threading.Lock())


class DatabaseWrapper(base.DatabaseWrapper):
    _holds_write_lock = False

    def get_connection_params(self) -> dict[str, Any]:
        params: dict[str, Any] = super().get_connection_params()
        self.busy_seconds = float(params.get("timeout", 5.0))
        return params

    def _start_transaction_under_autocommit(self) -> None:
        if getattr(self, "transaction_mode", None) != "IMMEDIATE" or self.is_in_memory_db():
            super()._start_transaction_under_autocommit()  # type: ignore[misc]  # private, not in the stubs
            return
        deadline = time.monotonic() + self.busy_seconds
        lock = _process_lock(str(self.settings_dict["NAME"]))
        with self.wrap_database_errors:
            if not lock.acquire(timeout=self.busy_seconds):
                raise sqlite3.OperationalError("database is locked")
            try:
                self._begin_immediate(deadline)
            except BaseException:
                lock.release()
                raise
        self._holds_write_lock = True

    def _begin_immediate(self, deadline: float) -> None:
        raw = self.connection
        raw.execute("PRAGMA busy_timeout = 0")
        try:
            while True:
                try:
                    raw.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as exc:
                    if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                        raise
                    if time.monotonic() >= deadline:
                        raise
                time.sleep(POLL_SECONDS * (0.5 + random.random()))
        finally:
            raw.execute(f"PRAGMA busy_timeout = {int(self.busy_seconds * 1000)}")

    def _release_write_lock(self) -> None:
        if self._holds_write_lock:
            self._holds_write_lock = False
            _process_lock(str(self.settings_dict["NAME"])).release()

    def _commit(self) -> None:
        try:
            super()._commit()  # type: ignore[misc]  # private, not in the stubs
        finally:
            if not self.connection or not self.connection.in_transaction:
                self._release_write_lock()

    def _rollback(self) -> None:
        try:
            super()._rollback()  # type: ignore[misc]  # private, not in the stubs
        finally:
            self._release_write_lock()

    def _close(self) -> None:
        try:
            super()._close()  # type: ignore[misc]  # private, not in the stubs
        finally:
            self._release_write_lock()
