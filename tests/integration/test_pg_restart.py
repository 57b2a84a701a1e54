"""Fault test: a burst of orders while workers are killed with SIGKILL and PostgreSQL restarts.

Everything runs as in production: a private PostgreSQL cluster (initdb/pg_ctl), gunicorn as
`fabflow serve` runs it, `fabflow worker` processes, an SMTP sink and a connector stub."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.factories import order_body
from tests.support.pgcluster import PgCluster, postgres_bin
from tests.support.servers import ConnectorStub, SmtpSink, free_port

pytestmark = pytest.mark.slow

CLIENTS = 4
OUTAGE_SECONDS = 3.0  # how long PostgreSQL stays down: the scenario, not a synchronisation
# A request during the outage must answer within this bound (no hang on a dead database).
FAIL_FAST_SECONDS = 5.0
SETUP = """
from fabflow.accounts.services import create_organization, create_secret_key, create_space
from fabflow.flows.services import create_flow
org = create_organization(name="Restart")
space = create_space(organization=org, key="restart-space")
create_flow(space=space, name="restart-flow", definition=DEFINITION)
print(create_secret_key(space=space, name="burst")[1])
"""


def flow_definition(connector_url: str) -> list[dict[str, Any]]:
    mail = {"recipients": ["{customerEmail}"], "subject": "Order {order.name}", "body": "Thanks"}
    return [
        {
            "key": "make",
            "name": "Make",
            "taskDefinitions": [
                {
                    "key": "mail",
                    "handlerKey": "send-email",
                    "payload": mail,
                    "next": [{"taskDefinitionKey": "export", "trigger": "success"}],
                },
                {
                    "key": "export",
                    "handlerKey": "consume-rest-api",
                    "payload": {"uri": connector_url, "sendsFeedback": True},
                    "next": [{"taskDefinitionKey": "pause", "trigger": "success"}],
                },
                {"key": "pause", "handlerKey": "wait", "payload": {"durationMs": 0}},
            ],
        }
    ]


@dataclass
class Answer:
    tpo: str
    status: int  # 0: no HTTP answer at all
    seconds: float
    at: float
    order_id: str | None = None
    problem: bool = False
    retry_after: str | None = None


@dataclass
class Stack:
    env: dict[str, str]
    base_port: int
    key: str
    database_url: str
    tmp: Path
    web: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start_worker(self) -> subprocess.Popen[bytes]:
        log = open(self.tmp / f"worker-{len(self.workers)}.log", "wb")
        cmd = [sys.executable, "-m", "fabflow.cli", "worker", "--interval", "0.1"]
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and args
            cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        self.workers.append(proc)
        return proc

    def post_order(self, tpo: str) -> Answer:
        body = json.dumps(order_body(tpo, flowKey="restart-flow")).encode()
        headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
        started = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", self.base_port, timeout=30)
        try:
            conn.request("POST", "/api/v1/orders", body=body, headers=headers)
            response = conn.getresponse()
            raw = response.read()
            answer = Answer(tpo, response.status, time.monotonic() - started, started)
            answer.problem = response.getheader("Content-Type") == "application/problem+json"
            answer.retry_after = response.getheader("Retry-After")
            if response.status == 201:
                answer.order_id = json.loads(raw)["id"]
            return answer
        except (OSError, http.client.HTTPException):
            return Answer(tpo, 0, time.monotonic() - started, started)
        finally:
            conn.close()


def children(pid: int) -> set[int]:
    """The gunicorn master's worker processes (a crashed one would come back with a new pid)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.add(int(entry.name))
            except (OSError, IndexError, ValueError):
                pass
    return found


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def cluster() -> Iterator[PgCluster]:
    bindir = postgres_bin()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) under /usr/lib/postgresql")
    pg = PgCluster(bindir).init()
    pg.start()
    yield pg
    pg.destroy()


@pytest.fixture
def stack(cluster: PgCluster, tmp_path: Path) -> Iterator[Stack]:
    smtp, connector = SmtpSink().start(), ConnectorStub().start()
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "fabflow.settings",
        "FABFLOW_DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": cluster.create_database("fabflow_restart"),
        "SECRET_KEY": "restart-test-secret-key-" + "x" * 40,
        "BASE_URL": f"http://127.0.0.1:{port}",
        "OUTBOUND_ALLOWLIST": "127.0.0.1",
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp.port}",
        "FABFLOW_LEASE_SECONDS": "5",
    }
    fabflow = [sys.executable, "-m", "fabflow.cli"]
    subprocess.run([*fabflow, "migrate", "-v0"], env=env, check=True, timeout=300)  # noqa: S603
    setup = f"DEFINITION = {flow_definition(connector.url)!r}\n{SETUP}"
    key = subprocess.run(  # noqa: S603 - our own interpreter and args
        [*fabflow, "shell", "-c", setup], env=env, check=True, capture_output=True, text=True
    ).stdout.split()[-1]
    web_log = open(tmp_path / "gunicorn.log", "wb")
    web = subprocess.Popen(  # noqa: S603 - our own interpreter and args
        [sys.executable, "-m", "gunicorn", "fabflow.wsgi:application", "--bind",
         f"127.0.0.1:{port}", "--workers", "2", "--threads", "4", "--worker-class", "gthread",
         "--no-control-socket"],
        env=env, stdout=web_log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    built = Stack(env, port, key, env["DATABASE_URL"], tmp_path, web)
    yield built
    for proc in [*built.workers, web]:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in [*built.workers, web]:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    smtp.stop()
    connector.stop()


def test_burst_survives_worker_kills_and_a_postgresql_restart(
    cluster: PgCluster, stack: Stack
) -> None:
    # given a healthy server and a worker
    web = stack.web
    wait_until(lambda: stack.post_order("warmup").status == 201, 60, "a healthy server")
    web_children = children(web.pid)
    assert len(web_children) == 2
    stack.start_worker()
    answers: list[Answer] = []
    stop_burst, in_outage = threading.Event(), threading.Event()
    sent = Counter[int]()
    kills = [0]

    def client(n: int) -> None:
        while not stop_burst.is_set():
            sent[n] += 1
            answers.append(stack.post_order(f"R-{n}-{sent[n]}"))

    def killer() -> None:
        # SIGKILL the worker every 3 s, except across the outage: the worker alive then must
        # come through the restart by itself.
        while not stop_burst.wait(3.0):
            if in_outage.is_set():
                continue
            stack.workers[-1].send_signal(signal.SIGKILL)
            stack.workers[-1].wait()
            kills[0] += 1
            stack.start_worker()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    threads.append(threading.Thread(target=killer))
    for thread in threads:
        thread.start()
    try:
        # when PostgreSQL goes down mid-burst and comes back once requests have failed
        wait_until(lambda: len(answers) >= 60, 120, "the burst to get going")
        in_outage.set()
        through_outage = stack.workers[-1]
        before = len(answers)
        down_at = time.monotonic()
        cluster.stop()
        wait_until(
            lambda: (
                sum(a.status == 503 for a in answers[before:]) >= 8
                and time.monotonic() - down_at >= OUTAGE_SECONDS
            ),
            60,
            "requests during the outage",
        )
        cluster.start()
        up_at = time.monotonic()
        wait_until(lambda: any(a.status == 201 and a.at > up_at for a in answers), 60, "recovery")
        recovered_at = min(a.at + a.seconds for a in answers if a.status == 201 and a.at > up_at)
        assert through_outage.poll() is None, "the worker died during the outage"
        in_outage.clear()
        # and the burst goes on long enough for more worker kills
        wait_until(lambda: kills[0] >= 5 and len(answers) >= before + 120, 180, "more kills")
    finally:
        stop_burst.set()
        for thread in threads:
            thread.join()

    # then every request got an answer: 201, or a fast retryable 503 problem
    accepted = [a for a in answers if a.status == 201]
    failed = [a for a in answers if a.status != 201]
    assert Counter(a.status for a in failed) <= Counter({503: len(failed)})
    assert all(a.problem and a.retry_after for a in failed)
    assert max(a.seconds for a in failed) < FAIL_FAST_SECONDS
    # and the web server recovered with its own processes
    assert web.poll() is None and children(web.pid) == web_children
    # and no acknowledged order is lost, none stored twice, every flow ends
    stack.start_worker()
    with psycopg.connect(stack.database_url, autocommit=True) as db:

        def unfinished() -> int:
            sql = "SELECT count(*) FROM orders_order WHERE status NOT IN ('success', 'failure')"
            return db.execute(sql).fetchone()[0]  # type: ignore[index]

        wait_until(lambda: unfinished() == 0, 240, "every flow to end")
        rows = db.execute("SELECT third_party_order_id, id, status FROM orders_order").fetchall()
    stored = Counter(tpo for tpo, _, _ in rows)
    ids = {str(order_id) for _, order_id, _ in rows}
    assert max(stored.values()) == 1
    assert {a.order_id for a in accepted} <= ids
    assert Counter(status for _, _, status in rows) == Counter({"success": len(rows)})
    print(
        f"\norders sent {len(answers)}, accepted {len(accepted)}, failed fast (503) "
        f"{len(failed)} (slowest {max(a.seconds for a in failed):.2f} s), stored {len(rows)}, "
        f"outage {up_at - down_at:.1f} s, recovery after restart {recovered_at - up_at:.2f} s, "
        f"workers killed with SIGKILL {kills[0]}"
    )
