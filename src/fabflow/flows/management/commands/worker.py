"""fabflow worker: the flow engine's claim threads, django-tasks-db's db_worker for the other
jobs (updateUrl deliveries, asset downloads), and the delivery sweeper."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections, connections
from django.db.utils import InterfaceError, OperationalError

from fabflow.flows.engine.loop import Engine, drain
from fabflow.flows.engine.sweeper import sweep

log = logging.getLogger(__name__)

# db_worker stops on a database error outside a task (a lock held longer than the busy timeout
# on SQLite, a restarted PostgreSQL): it is started again after these delays, doubling.
FIRST_RESTART_DELAY = 0.5
MAX_RESTART_DELAY = 30.0
# A db_worker that ran this long before it failed starts again at the first delay.
HEALTHY_RUN_SECONDS = 60.0


def use_generic_plans() -> None:
    """Let PostgreSQL reuse generic plans on this process's connections: the engine's
    statements plan alike whatever their values, and planning each of their runs cost a fifth
    of its flows/s (docs/adr/0007). The web keeps plans made with the values (settings.py)."""
    for alias in connections:
        db = connections.settings[alias]
        if db["ENGINE"] == "django.db.backends.postgresql":
            db.setdefault("OPTIONS", {})["options"] = "-c plan_cache_mode=auto"
    connections.close_all()


class Command(BaseCommand):
    help = "Run a background worker; start as many as you like, on as many hosts."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--interval",
            type=float,
            default=0.2,
            help="seconds between polls when idle (default 0.2)",
        )
        parser.add_argument("--batch", action="store_true", help="run what is due now, then exit")
        parser.add_argument(
            "--threads",
            type=int,
            default=settings.FABFLOW_ENGINE_THREADS,
            help="flow engine threads (default FABFLOW_ENGINE_THREADS)",
        )
        parser.add_argument(
            "--claim-batch",
            type=int,
            default=settings.FABFLOW_ENGINE_CLAIM_BATCH,
            help="flow runs one thread claims at a time (default FABFLOW_ENGINE_CLAIM_BATCH)",
        )
        parser.add_argument(
            "--sweep-interval",
            type=float,
            default=1.0,
            help="seconds between recovery sweeps of updateUrl deliveries (default 1)",
        )

    def handle(self, *args: object, **options: Any) -> None:
        if options["threads"] < 1 or options["claim_batch"] < 1:
            raise CommandError("--threads and --claim-batch must be at least 1", returncode=2)
        if options["batch"]:
            sweep()
            drain(options["claim_batch"])
            self._jobs(options, batch=True)
            return
        use_generic_plans()
        engine = Engine(
            threads=options["threads"],
            batch_size=options["claim_batch"],
            interval=options["interval"],
        )
        engine.start()
        args = (engine.stop, options["sweep_interval"])
        threading.Thread(target=self._sweep_forever, args=args, daemon=True).start()
        try:
            self._jobs_forever(options)
        finally:
            engine.shutdown()

    def _jobs_forever(self, options: dict[str, Any]) -> None:
        """Run db_worker; when the database fails it (locked, unavailable), log, wait and run
        it again, so the worker outlives the outage. SIGTERM/Ctrl-C still end it (SystemExit)."""
        delay = FIRST_RESTART_DELAY
        while True:
            started = time.monotonic()
            try:
                self._jobs(options, batch=False)
                return
            except (OperationalError, InterfaceError) as exc:
                if time.monotonic() - started > HEALTHY_RUN_SECONDS:
                    delay = FIRST_RESTART_DELAY
                log.warning(
                    "the job worker stopped on a database error (%s); starting it again in %.1f s",
                    str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                    delay,
                )
                connections.close_all()
                time.sleep(delay)
                delay = min(delay * 2, MAX_RESTART_DELAY)

    def _jobs(self, options: dict[str, Any], *, batch: bool) -> None:
        call_command(
            "db_worker",
            queue_name="*",
            interval=options["interval"],
            batch=batch,
            reload=False,
            startup_delay=False,
            verbosity=options.get("verbosity", 1),
        )

    def _sweep_forever(self, stop: threading.Event, interval: float) -> None:
        while not stop.wait(interval):
            try:
                sweep()
            except Exception:
                log.exception("sweep failed")
            finally:
                close_old_connections()
