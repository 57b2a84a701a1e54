"""fabflow worker: run jobs (django-tasks-db's db_worker) plus the flow engine's sweeper."""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from fabflow.flows.engine.sweeper import sweep

log = logging.getLogger(__name__)


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
            "--sweep-interval",
            type=float,
            default=1.0,
            help="seconds between recovery sweeps (default 1)",
        )

    def handle(self, *args: object, **options: Any) -> None:
        batch = bool(options["batch"])
        stop = threading.Event()
        if batch:
            sweep()
        else:
            thread = threading.Thread(
                target=self._sweep_forever,
                daemon=True,
                args=(stop, float(options["sweep_interval"])),
            )
            thread.start()
        try:
            call_command(
                "db_worker",
                queue_name="*",
                interval=options["interval"],
                batch=batch,
                reload=False,
                startup_delay=False,
                verbosity=options.get("verbosity", 1),
            )
        finally:
            stop.set()

    def _sweep_forever(self, stop: threading.Event, interval: float) -> None:
        while not stop.wait(interval):
            try:
                sweep()
            except Exception:
                log.exception("sweep failed")
            finally:
                close_old_connections()
