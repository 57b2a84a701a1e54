"""Mixed load: order intake, the flows it starts and web page views together, for --minutes.

The world is bench/flows.py's (temporary data directory, database, tenant, SMTP sink, connector
stub, gunicorn as `fabflow serve` runs it) plus --workers `fabflow worker` processes and a
member who logs in to the web app. For --minutes, at the same time:

- intake: --order-rate orders per second in all (spread over --intake-clients threads), each
  with the three-task flow of bench/flows.py (send-email -> consume-rest-api with feedback ->
  wait), every other one with an Idempotency-Key;
- API reads: GET /api/v1/orders/{id} of a recent order, from the same threads between POSTs;
- page views: --page-clients logged-in threads walking /orders, an order's page, /products.

Afterwards it waits (--drain-seconds at most) until every accepted order's flow has ended, and
prints errors by kind of request and reason, p50/p99 latency per kind, and three counts that
must be zero: accepted orders lost, orders stored twice, flows not ended (exit status 1 if not).

    .venv/bin/python bench/mixed_load.py --minutes 2
    .venv/bin/python bench/mixed_load.py --minutes 2 \\
        --database-url postgres://postgres@127.0.0.1:5432/fabflow_mixed
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import threading
import time
import uuid
from collections import Counter, defaultdict
from urllib.parse import urlencode, urlsplit

import flows as fb  # bench/flows.py: the world, workers, flow definition and order bodies

FLOW_KEY = "mixed-chain"
PASSWORD = "mixed-load-password-1"  # a throwaway user of a temporary database
TERMINAL = ("success", "failure")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="duration of the load")
    parser.add_argument(
        "--database-url",
        default="sqlite",
        help="`sqlite` (a file in the temporary directory) or a PostgreSQL URL (DROPPED and "
        "created again)",
    )
    parser.add_argument("--workers", type=int, default=2, help="`fabflow worker` processes")
    parser.add_argument("--order-rate", type=float, default=8.0, help="orders per second")
    parser.add_argument("--intake-clients", type=int, default=4, help="threads POSTing orders")
    parser.add_argument("--page-clients", type=int, default=2, help="threads viewing pages")
    parser.add_argument("--drain-seconds", type=float, default=300.0, help="wait for flows")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--web-threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--feedback-threads", type=int, default=8, help="connector stub threads")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    # What bench/flows.py's world() and start_workers() read, at their defaults.
    args.python = fb.sys.executable
    args.profile = args.interval = args.engine_threads = args.sweep_interval = None
    return args


class Recorder:
    """Latencies and errors per kind of request, from many threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seconds: dict[str, list[float]] = defaultdict(list)
        self.errors: Counter[tuple[str, str]] = Counter()

    def add(self, kind: str, seconds: float, error: str | None) -> None:
        with self.lock:
            self.seconds[kind].append(seconds)
            if error is not None:
                self.errors[(kind, error)] += 1


class Client:
    """One kept-alive HTTP connection; reopened after an error or a `Connection: close`."""

    def __init__(self, base_url: str, recorder: Recorder, headers: dict[str, str]) -> None:
        self.port = urlsplit(base_url).port
        self.recorder = recorder
        self.headers = headers
        self.conn: http.client.HTTPConnection | None = None

    def call(
        self, kind: str, method: str, path: str, body: bytes | None = None, **headers: str
    ) -> tuple[int, bytes, http.client.HTTPResponse | None]:
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        started = time.monotonic()
        try:
            self.conn.request(method, path, body=body, headers={**self.headers, **headers})
            response = self.conn.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.conn.close()
            self.conn = None
            self.recorder.add(kind, time.monotonic() - started, type(exc).__name__)
            return 0, b"", None
        if response.will_close:
            self.conn.close()
            self.conn = None
        ok = 200 <= response.status < 300  # a redirect to the login page is an error here
        self.recorder.add(kind, time.monotonic() - started, None if ok else str(response.status))
        return response.status, raw, response


def log_in(base_url: str, email: str) -> str:
    """A real login through the form: the session cookie of the member."""
    port = urlsplit(base_url).port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", "/login")
    response = conn.getresponse()
    page = response.read().decode()
    csrf = re.search(r"csrftoken=([^;]+)", response.getheader("Set-Cookie") or "")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    if csrf is None or token is None:
        raise SystemExit("the login page has no CSRF token")
    form = urlencode(
        {"username": email, "password": PASSWORD, "csrfmiddlewaretoken": token.group(1)}
    )
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": f"csrftoken={csrf.group(1)}",
        "Referer": f"{base_url}/login",
    }
    conn.request("POST", "/login", body=form, headers=headers)
    response = conn.getresponse()
    response.read()
    session = re.search(r"sessionid=([^;]+)", response.getheader("Set-Cookie") or "")
    conn.close()
    if response.status != 302 or session is None:
        raise SystemExit(f"login failed: {response.status}")
    return f"sessionid={session.group(1)}"


def run_load(args: argparse.Namespace, w: fb.World, cookie: str, recorder: Recorder) -> dict:
    """Drive the three kinds of traffic until the time is up; returns what intake accepted."""
    stop = threading.Event()
    lock = threading.Lock()
    accepted: dict[str, uuid.UUID] = {}  # thirdPartyOrderId -> id
    seq = iter(range(10**9))
    interval = args.intake_clients / args.order_rate
    api_headers = {"Authorization": f"Bearer {w.key}", "Accept": "application/json"}

    def intake() -> None:
        client = Client(w.base_url, recorder, api_headers)
        next_at = time.monotonic()
        while not stop.is_set():
            with lock:
                n = next(seq)
            tpo = f"MIX-{n:07d}"
            body = json.dumps(fb.order_body(tpo, n, FLOW_KEY)).encode()
            extra = {"Idempotency-Key": f"mix-{n}"} if n % 2 else {}
            status, raw, _ = client.call(
                "POST order", "POST", "/api/v1/orders", body, **extra,
                **{"Content-Type": "application/json"},
            )  # fmt: skip
            if status == 201:
                with lock:
                    accepted[tpo] = uuid.UUID(json.loads(raw)["id"])
                client.call("GET api order", "GET", f"/api/v1/orders/{json.loads(raw)['id']}")
            next_at += interval
            stop.wait(max(0.0, next_at - time.monotonic()))

    def pages() -> None:
        client = Client(w.base_url, recorder, {"Cookie": cookie})
        while not stop.is_set():
            client.call("GET /orders", "GET", "/orders")
            with lock:
                recent = list(accepted.values())[-20:]
            if recent:
                client.call("GET /orders/{id}", "GET", f"/orders/{recent[0]}")
            client.call("GET /products", "GET", "/products")

    threads = [threading.Thread(target=intake) for _ in range(args.intake_clients)]
    threads += [threading.Thread(target=pages) for _ in range(args.page_clients)]
    for thread in threads:
        thread.start()
    try:
        stop.wait(args.minutes * 60)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    return accepted


def check(db: fb.Db, accepted: dict[str, uuid.UUID], drain: float) -> tuple[int, int, int]:
    """Lost (accepted, not stored), duplicated (stored twice) and unfinished flows."""
    deadline = time.time() + drain
    ids = list(accepted.values())
    while True:
        statuses = fb.order_statuses(db, ids)
        unfinished = len(ids) - sum(statuses[s] for s in TERMINAL)
        if unfinished == 0 or time.time() > deadline:
            break
        time.sleep(0.5)
    stored = Counter(
        str(tpo) for (tpo,) in db.rows("SELECT third_party_order_id FROM orders_order")
    )
    lost = sum(1 for tpo in accepted if stored[tpo] == 0)
    duplicated = sum(n - 1 for n in stored.values() if n > 1)
    print(f"flow outcomes: {dict(statuses)}")
    return lost, duplicated, unfinished


def report(recorder: Recorder, seconds: float, lost: int, duplicated: int, unfinished: int) -> None:
    print(f"\n{'request':<18}{'count':>8}{'per s':>8}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for kind, values in sorted(recorder.seconds.items()):
        ordered = sorted(values)
        errors = sum(n for (k, _), n in recorder.errors.items() if k == kind)
        print(
            f"{kind:<18}{len(values):>8}{len(values) / seconds:>8.1f}"
            f"{fb.percentile(ordered, 50) * 1000:>9.0f}{fb.percentile(ordered, 99) * 1000:>9.0f}"
            f"{errors:>8}"
        )
    print("errors by kind:", dict(recorder.errors) or "none")
    print(f"lost {lost}, duplicated {duplicated}, flows not ended {unfinished} (all must be 0)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with fb.world(args) as w:
        email = "mixed@example.com"
        fb.fabflow(args.python, w.env, "createuser", "--org", "FlowBench", "--email", email,
                   "--password", PASSWORD)  # fmt: skip
        fb.create_flow(w, FLOW_KEY, fb.chain_definition(w.stub.url))
        workers = fb.start_workers(args, w, args.workers, "mixed")
        try:
            cookie = log_in(w.base_url, email)
            recorder = Recorder()
            label = "SQLite" if w.db.sqlite else "PostgreSQL"
            print(f"{label}: {args.minutes:g} min, {args.order_rate:g} orders/s, "
                  f"{args.page_clients} page viewers, {args.workers} workers")  # fmt: skip
            started = time.monotonic()
            accepted = run_load(args, w, cookie, recorder)
            seconds = time.monotonic() - started
            fb.check_alive(workers)
            lost, duplicated, unfinished = check(w.db, accepted, args.drain_seconds)
        finally:
            fb.stop_all(workers)
    print(f"orders accepted {len(accepted)} in {seconds:.0f} s")
    report(recorder, seconds, lost, duplicated, unfinished)
    return 1 if lost or duplicated or unfinished else 0


if __name__ == "__main__":
    raise SystemExit(main())
