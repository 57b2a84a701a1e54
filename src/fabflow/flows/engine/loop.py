"""The engine's loop in `fabflow worker`: threads that claim due flow runs and advance them.

Idle threads sleep until the poll interval passes or, on PostgreSQL, a NOTIFY of new work.
Several threads let one process overlap the waits of handlers (SMTP, connectors) and database.
"""

from __future__ import annotations

import logging
import threading

from django.db import close_old_connections, connection, connections
from django.db.utils import InterfaceError, OperationalError

from fabflow.flows.engine import claims, store
from fabflow.flows.engine.runner import advance_held

log = logging.getLogger(__name__)

# Waits between claims while the database fails, doubling from the first to the last.
FIRST_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 30.0


def advance_batch(batch: list[claims.Held]) -> int:
    """Advance each held flow run; one run's error never stops the others."""
    steps = 0
    for held in batch:
        try:
            steps += advance_held(held)
        except Exception:
            log.exception("advancing flow run %s failed; it is retried shortly", held.flow_run.pk)
    return steps


def drain(batch_size: int) -> int:
    """Advance every flow run due now, then return the number of steps (`worker --batch`)."""
    owner = claims.worker_id()
    steps = 0
    while held := claims.claim(owner, batch_size):
        steps += advance_batch(held)
    return steps


class Engine:
    """Engine threads of one worker process, stopped through `stop`."""

    def __init__(self, *, threads: int, batch_size: int, interval: float) -> None:
        self.threads = threads
        self.batch_size = batch_size
        self.interval = interval
        self.stop = threading.Event()
        self._wakes = [threading.Event() for _ in range(threads)]
        self._started: list[threading.Thread] = []

    def start(self) -> None:
        for index, wake in enumerate(self._wakes):
            self._spawn(f"engine-{index}", self._claim_forever, wake)
        if connection.vendor == "postgresql":
            self._spawn("engine-listen", self._listen_forever)

    def shutdown(self, timeout: float = 30.0) -> None:
        self.stop.set()
        for wake in self._wakes:
            wake.set()
        for thread in self._started:
            thread.join(timeout)

    def _spawn(self, name: str, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._started.append(thread)

    def _claim_forever(self, wake: threading.Event) -> None:
        owner = claims.worker_id()
        delay = FIRST_RETRY_DELAY
        try:
            while not self.stop.is_set():
                try:
                    batch = claims.claim(owner, self.batch_size)
                except Exception as exc:
                    if isinstance(exc, OperationalError | InterfaceError):
                        # A locked or unavailable database: expected during outages, so a
                        # line per try (not a traceback), and waits that double while it lasts.
                        log.warning(
                            "claiming flow runs failed (%s); retrying in %.1f s", exc, delay
                        )
                        connection.close()
                    else:
                        log.exception("claiming flow runs failed")
                        close_old_connections()
                    self.stop.wait(delay)
                    delay = min(delay * 2, MAX_RETRY_DELAY)
                    continue
                delay = FIRST_RETRY_DELAY
                if batch:
                    advance_batch(batch)
                    continue
                wake.wait(self.interval)
                wake.clear()
        finally:
            connection.close()

    def _listen_forever(self) -> None:
        """Wake the claim threads when a producer NOTIFYs (PostgreSQL)."""
        while not self.stop.is_set():
            listener = connections.create_connection("default")
            try:
                listener.ensure_connection()
                pg = listener.connection
                pg.execute(f"LISTEN {store.CHANNEL}")
                while not self.stop.is_set():
                    for _ in pg.notifies(timeout=1.0, stop_after=1):
                        for wake in self._wakes:
                            wake.set()
            except Exception as exc:
                log.warning("listening for new flow work failed (%s); polling meanwhile", exc)
                self.stop.wait(1.0)
            finally:
                listener.close()
