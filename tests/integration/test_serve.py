"""Supervision with real processes: `fabflow serve` restarts a killed child and gives up on one
that crashes at start; `fabflow worker` outlives a SQLite write lock held past its busy timeout."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection

from fabflow.flows.services import create_flow
from fabflow.orders.models import Order
from tests.factories import ApiClient, make_tenant, order_body
from tests.support.servers import free_port

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def process_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a `fabflow` process on the test database."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "fabflow.settings",
        "FABFLOW_DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": database_url(),
        "SECRET_KEY": django_settings.SECRET_KEY,
        "OUTBOUND_ALLOWLIST": "127.0.0.1",
        **extra,
    }


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def children(pid: int) -> dict[int, str]:
    """The live child processes of `pid`, by pid, with their command lines (from /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found[int(entry.name)] = cmdline
    return found


def workers_of(pid: int) -> list[int]:
    return [child for child, cmd in children(pid).items() if "fabflow.cli worker" in cmd]


def health(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=5) as r:
            return int(r.status)
    except OSError:
        return 0


class Serve:
    """`fabflow serve` as a subprocess, its output in a log file."""

    def __init__(self, tmp_path: Path, **env: str) -> None:
        self.port = free_port()
        self.log_path = tmp_path / "serve.log"
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and args
            [
                sys.executable,
                "-m",
                "fabflow.cli",
                "serve",
                "--port",
                str(self.port),
                "--web-workers",
                "1",
                "--restart-delay",
                "0.2",
            ],
            env=process_env(tmp_path, **env),
            stdout=self.log_path.open("wb"),
            stderr=subprocess.STDOUT,
        )

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Serve]]:
    made: list[Serve] = []

    def start(**env: str) -> Serve:
        made.append(Serve(tmp_path, **env))
        return made[-1]

    yield start
    for one in made:
        one.stop()


def test_serve_restarts_a_killed_worker_while_the_web_server_keeps_answering(
    serve: Callable[..., Serve],
) -> None:
    # given fabflow serve with one worker, answering health
    server = serve()
    wait_until(lambda: health(server.port) == 200, 60, "serve's web server")
    wait_until(lambda: len(workers_of(server.proc.pid)) == 1, 30, "serve's worker")
    [first] = workers_of(server.proc.pid)
    answers: list[int] = []
    done = threading.Event()

    def poll_health() -> None:
        while not done.is_set():
            answers.append(health(server.port))
            time.sleep(0.05)

    poller = threading.Thread(target=poll_health)
    poller.start()
    try:
        # when the worker is killed with SIGKILL
        os.kill(first, signal.SIGKILL)
        # then serve starts another one, and says so
        wait_until(
            lambda: workers_of(server.proc.pid) not in ([], [first]), 30, "a restarted worker"
        )
        wait_until(lambda: "worker 1 restarted" in server.log, 10, "the restart in the log")
    finally:
        done.set()
        poller.join()
    assert server.proc.poll() is None
    assert "worker 1 exited with code -9" in server.log
    # and the web server answered health throughout
    assert answers and set(answers) == {200}
    # when serve gets SIGTERM, it stops with all its children
    kids = list(children(server.proc.pid))
    assert server.stop() == 0
    wait_until(lambda: not any(Path(f"/proc/{k}").exists() for k in kids), 20, "children gone")


def test_serve_gives_up_on_a_worker_that_crashes_at_start(serve: Callable[..., Serve]) -> None:
    # given a worker that cannot start (no engine thread is a configuration error: exit 2)
    server = serve(FABFLOW_ENGINE_THREADS="0")
    # when serve has restarted it a few times
    code = server.proc.wait(timeout=120)
    # then it gives up, says why, and stops the web server too with a failure status
    assert code == 1
    assert "worker 1 exited with code 2 5 times within 10 s of starting; giving up" in server.log
    assert "the worker 1 crashed 5 times" in server.log
    assert health(server.port) == 0


def one_wait_flow() -> list[dict[str, Any]]:
    return [
        {
            "key": "make",
            "name": "Make",
            "taskDefinitions": [
                {"key": "pause", "handlerKey": "wait", "payload": {"durationMs": 0}}
            ],
        }
    ]


def test_worker_outlives_a_write_lock_held_past_its_busy_timeout(tmp_path: Path) -> None:
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's write lock")
    # given a worker whose SQLite busy timeout is 0.5 s, polling every 0.1 s
    log_path = tmp_path / "worker.log"
    worker = subprocess.Popen(
        [sys.executable, "-m", "fabflow.cli", "worker", "--interval", "0.1"],
        env=process_env(tmp_path, DATABASE_TIMEOUT="0.5"),
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: "Starting worker" in log_path.read_text(), 30, "the job worker")
        # when another connection holds the write lock for 3 s (six busy timeouts)
        locker = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
        locker.execute("BEGIN IMMEDIATE")
        time.sleep(3)
        locker.execute("ROLLBACK")
        locker.close()
        # then the worker logged the locked database and is still running
        log = log_path.read_text()
        assert "database is locked" in log
        assert "starting it again in" in log
        assert worker.poll() is None
        # and it still does its work: a new order's flow runs to success
        tenant = make_tenant("Locks", "lock-space")
        create_flow(space=tenant.space, name="lock-flow", definition=one_wait_flow())
        response = ApiClient(tenant.secret).post(
            "/api/v1/orders", order_body("L-1", flowKey="lock-flow")
        )
        assert response.status_code == 201, response.content
        order = Order.objects.get(pk=response.json()["id"])
        wait_until(
            lambda: Order.objects.get(pk=order.pk).status == "success", 30, "the flow to finish"
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
