"""Django's PostgreSQL backend, reading timestamptz values with psycopg's C loader.

Django registers a Python subclass of psycopg's pure-Python TimestamptzLoader (to give the
values Django's time zone), which takes ~6 µs a value where the C loader of psycopg_binary
takes ~1.3 µs: a table page's 100 timestamps cost ~0.5 ms. Both return aware datetimes in
the session's time zone, which Django sets to its own; the C loader is used only when that
is UTC (USE_TZ, no TIME_ZONE of the database), otherwise Django's stays.
"""

from __future__ import annotations

import select
from datetime import UTC
from typing import Any

import psycopg
from django.db.backends.postgresql import base
from psycopg.pq import Format

# psycopg's own loader: the C one with psycopg_binary or psycopg_c, else the Python one.
_LOADER = psycopg.adapters.get_loader(base.TIMESTAMPTZ_OID, Format.TEXT)
C_LOADER = _LOADER if psycopg.pq.__impl__ in ("c", "binary") else None


class DatabaseWrapper(base.DatabaseWrapper):
    def create_cursor(self, name: str | None = None) -> Any:
        return self._fast_timestamps(super().create_cursor(name))

    def server_cursor(self) -> Any:
        """A psycopg cursor with server-side parameters on this connection (core/rows.py
        prepares its statements on it), reading timestamps as Django's cursors do here."""
        return self._fast_timestamps(psycopg.Cursor(self.connection))

    def _fast_timestamps(self, cursor: Any) -> Any:
        # On the cursor, not the connection: Django's create_cursor asks the connection's
        # loader for its `timezone`, which a C class has not. A cursor has its own adapters
        # map already; registering one loader in it costs ~2 µs.
        if C_LOADER is not None and self.timezone is UTC:
            cursor.adapters.register_loader(base.TIMESTAMPTZ_OID, C_LOADER)
        return cursor

    def is_usable(self) -> bool:
        """Django's health check (CONN_HEALTH_CHECKS) without a round trip when it can: an
        idle connection that the server has closed (restart, idle timeout, a terminated
        backend) has something to read, its last message or the end of the stream. Nothing to
        read and a good status: usable. Otherwise Django's `SELECT 1` decides. Every request
        made that `SELECT 1` before (two a flow, web side)."""
        pg = self.connection
        if pg is None or pg.closed or pg.broken:
            return False
        if pg.pgconn.status != psycopg.pq.ConnStatus.OK:
            return False
        poller = select.poll()
        poller.register(pg.fileno(), select.POLLIN | select.POLLPRI)
        if not poller.poll(0):
            return True
        return bool(super().is_usable())
