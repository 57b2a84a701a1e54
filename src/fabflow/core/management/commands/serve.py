"""fabflow serve: the web server (gunicorn) and workers, supervised; crashed ones restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = (
        "Start the web server and workers; restart any that crashes (with backoff); stop all "
        "on SIGTERM or Ctrl-C."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=settings.PORT)
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument(
            "--web-workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "3"))
        )
        parser.add_argument("--workers", type=int, default=1, help="flow/job workers")
        parser.add_argument(
            "--restart-delay",
            type=float,
            default=1.0,
            help="seconds before a crashed child is started again; doubles while it keeps "
            "crashing at start (default 1)",
        )

    def handle(self, *args: object, **options: Any) -> None:
        call_command("collectstatic", interactive=False, verbosity=0)
        bind = f"{options['host']}:{options['port']}"
        gunicorn = {
            "--bind": bind,
            "--workers": str(options["web_workers"]),
            "--threads": "4",
            "--worker-class": "gthread",
            "--access-logfile": "-",
            "--logger-class": "fabflow.core.logs.GunicornLogger",
            "--graceful-timeout": "10",
        }
        web = [sys.executable, "-m", "gunicorn", "fabflow.wsgi:application"]
        web += [arg for option in gunicorn.items() for arg in option]
        worker = [sys.executable, "-m", "fabflow.cli", "worker"]
        children = [Child("web server", web)]
        children += [Child(f"worker {i + 1}", worker) for i in range(int(options["workers"]))]
        for child in children:
            child.start()
        self.stdout.write(f"Fabflow on http://{bind} (API docs at /api/docs); Ctrl-C stops.")
        self.stdout.flush()
        given_up = self._supervise(children, first_delay=float(options["restart_delay"]))
        if given_up is not None:
            raise SystemExit(
                f"fabflow serve stopped: the {given_up.name} crashed {MAX_START_CRASHES} times "
                f"within {START_GRACE_SECONDS:.0f} s of starting"
            )

    def _log(self, message: str) -> None:
        self.stderr.write(f"fabflow serve: {message}")
        self.stderr.flush()

    def _supervise(self, children: list[Child], *, first_delay: float) -> Child | None:
        """Restart children that exit until SIGTERM/Ctrl-C, then stop them all. Returns the
        child given up on (it crashed repeatedly at start), after stopping the others."""
        stopping = threading.Event()
        signal.signal(signal.SIGTERM, lambda signum, frame: stopping.set())
        signal.signal(signal.SIGINT, lambda signum, frame: stopping.set())
        given_up: Child | None = None
        try:
            while not stopping.is_set() and given_up is None:
                for child in children:
                    given_up = given_up or self._tend(child, first_delay)
                time.sleep(0.2)
        finally:
            running = [child.proc for child in children if child.proc is not None]
            for proc in running:
                proc.terminate()  # SIGTERM, unless it has exited
            deadline = time.monotonic() + 15
            for proc in running:
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    proc.kill()
        return given_up

    def _tend(self, child: Child, first_delay: float) -> Child | None:
        """Restart `child` when it has exited and its delay has passed; the child itself if
        it is to be given up on."""
        now = time.monotonic()
        if child.proc is not None:
            code = child.proc.poll()
            if code is None:
                return None
            ran = now - child.started_at
            # A crash soon after start (bad configuration, database gone) is likely to repeat:
            # back off and, after a few in a row, give up. A child that ran a while starts over.
            child.start_crashes = child.start_crashes + 1 if ran < START_GRACE_SECONDS else 0
            child.delay = child.delay * 2 if child.start_crashes > 1 else first_delay
            child.delay = min(child.delay, MAX_RESTART_DELAY)
            child.proc, child.restart_at = None, now + child.delay
            if child.start_crashes >= MAX_START_CRASHES:
                self._log(
                    f"{child.name} exited with code {code} {child.start_crashes} times within "
                    f"{START_GRACE_SECONDS:.0f} s of starting; giving up on it"
                )
                return child
            self._log(
                f"{child.name} exited with code {code} after {ran:.1f} s; "
                f"restarting it in {child.delay:.1f} s"
            )
        if now >= child.restart_at:
            self._log(f"{child.name} restarted (pid {child.start()})")
        return None


# A child that exits within this many seconds of its start crashed "at start"; after this many
# such crashes in a row serve gives up (and stops, so the service manager sees the failure).
START_GRACE_SECONDS = 10.0
MAX_START_CRASHES = 5
MAX_RESTART_DELAY = 30.0


@dataclass
class Child:
    """One supervised process: the web server or a worker."""

    name: str
    argv: list[str]
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restart_at: float = 0.0
    delay: float = 0.0
    start_crashes: int = 0

    def start(self) -> int:
        self.proc = subprocess.Popen(self.argv)  # noqa: S603 - our own interpreter and args
        self.started_at = time.monotonic()
        return self.proc.pid
