"""Order intake benchmark: concurrent clients POST orders to Fabflow; every accepted one is checked.

By default the script starts its own server: a fresh temporary FABFLOW_DATA_DIR, the database
of --database-url (default: SQLite in that directory; a PostgreSQL database is dropped and
created again so that runs are comparable), `fabflow migrate`, an organization, a space and a
secret key, then gunicorn as `fabflow serve` runs it (gthread, DEBUG off, no access log). With
--url and --key it targets a running server instead.

Each of --clients threads keeps one HTTP connection open and POSTs orders (2 products x 2 parts,
unique thirdPartyOrderId, every other one with an Idempotency-Key) for --seconds after a short
warm-up. Afterwards it pages through GET /api/v1/orders and checks that every order answered
2xx exists exactly once. Then, without HTTP, a single thread calls the service layer
(`services.create_order`) in a subprocess on the same database for a baseline.

Exit status: 0 when every accepted order was found exactly once, 1 when an order was lost or
duplicated, 3 when no order was accepted at all (2 is argparse's usage error).

    .venv/bin/python bench/intake.py
    .venv/bin/python bench/intake.py --database-url postgres://postgres@127.0.0.1:5432/fabflow_bench
    .venv/bin/python bench/intake.py --url http://127.0.0.1:8000 --key ffsk_...
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import unquote, urlsplit

from _orders import order_body

BENCH_DIR = Path(__file__).resolve().parent
ORDERS_PATH = "/api/v1/orders"
HEALTH_PATH = "/api/v1/health"
# Targets on a 2-core machine, printed next to the results (not asserted).
TARGETS = {"postgresql": 200.0, "sqlite": 150.0}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Measure Fabflow's order intake over HTTP and check every accepted order.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    target = parser.add_argument_group("target")
    target.add_argument(
        "--database-url",
        default=None,
        help="database of the server this script starts (default: SQLite in a temporary "
        "directory); a PostgreSQL database is DROPPED and created again. With --url: "
        "the running server's database, only used for the service-layer baseline",
    )
    target.add_argument("--url", help="benchmark a running server instead of starting one")
    target.add_argument("--key", help="secret key of a space on the --url server")
    server = parser.add_argument_group("server started by the script")
    server.add_argument("--workers", type=int, default=3, help="gunicorn worker processes")
    server.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    server.add_argument("--python", default=sys.executable, help="interpreter with fabflow")
    server.add_argument(
        "--app",
        choices=("fabflow", "bare"),
        default="fabflow",
        help="serve Fabflow, or the floor: a bare Django + django-ninja app doing the same "
        "inserts on the same database (bench/_bare_app.py)",
    )
    server.add_argument(
        "--server-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra gunicorn argument, repeatable (e.g. --server-arg=--keep-alive=5)",
    )
    server.add_argument(
        "--keep", action="store_true", help="keep the temporary directory (logs, SQLite file)"
    )
    server.add_argument(
        "--profile",
        metavar="DIR",
        type=Path,
        help="run every request under cProfile; write worker-<pid>.prof files to DIR "
        "and print the top functions (slows the server down; use --workers 1)",
    )
    load = parser.add_argument_group("load")
    load.add_argument("--clients", type=int, default=16, help="concurrent client threads")
    load.add_argument("--seconds", type=float, default=20.0, help="measured duration")
    load.add_argument(
        "--warmup", type=float, default=2.0, help="seconds of load before measuring starts"
    )
    load.add_argument("--timeout", type=float, default=30.0, help="client socket timeout")
    load.add_argument(
        "--baseline-seconds",
        type=float,
        default=5.0,
        help="duration of the service-layer baseline (0 skips it)",
    )
    load.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if (args.url is None) != (args.key is None):
        parser.error("--url and --key go together")
    if args.url and args.profile:
        parser.error("--profile needs the server this script starts")
    if min(args.workers, args.threads, args.clients) < 1 or args.seconds <= 0:
        parser.error("--workers, --threads, --clients and --seconds must be positive")
    return args


# --- database and server --------------------------------------------------------------------


def database_kind(database_url: str | None) -> str | None:
    if database_url is None:
        return None
    scheme = urlsplit(database_url).scheme
    if scheme.startswith("postgres") or scheme == "pgsql":
        return "postgresql"
    if scheme.startswith("sqlite"):
        return "sqlite"
    return scheme


def postgres_name(database_url: str | None) -> str | None:
    if database_kind(database_url) != "postgresql":
        return None
    return unquote(urlsplit(database_url or "").path.lstrip("/")) or None


def reset_postgres(database_url: str) -> None:
    """Drop the URL's database if it exists and create it empty (via the `postgres` db)."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(database_url)
    name = unquote(parts.path.lstrip("/"))
    if not name or name == "postgres":
        raise SystemExit(f"refusing to drop database {name!r}: give a dedicated bench database")
    params: dict[str, Any] = {"dbname": "postgres", "host": parts.hostname or "127.0.0.1"}
    if parts.port:
        params["port"] = parts.port
    if parts.username:
        params["user"] = unquote(parts.username)
    if parts.password:
        params["password"] = unquote(parts.password)
    with psycopg.connect(**params, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Setup:
    """What the load, the check and the baseline need to know about the target."""

    base_url: str
    key: str
    database: str | None  # "sqlite", "postgresql", or None when unknown
    env: dict[str, str] | None  # environment for the baseline subprocess (None: no baseline)
    tmp: Path | None = None
    database_name: str | None = None  # PostgreSQL database (its backends' CPU is reported)


def fabflow(python: str, env: dict[str, str], *args: str) -> str:
    """Run a `fabflow` command (as `python -m fabflow.cli`) and return its stdout."""
    proc = subprocess.run(
        [python, "-m", "fabflow.cli", *args], env=env, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"fabflow {' '.join(args)} failed:\n{proc.stderr.strip()}")
    return proc.stdout


@contextlib.contextmanager
def prepared(args: argparse.Namespace) -> Iterator[Setup]:
    """A fresh data directory and database with one org, space and key (or the --url target)."""
    if args.url:
        with tempfile.TemporaryDirectory(prefix="fabflow-bench-") as scratch:
            env = None
            if args.database_url:  # for the baseline: the server's database, a scratch data dir
                env = {
                    **os.environ,
                    "DATABASE_URL": args.database_url,
                    "FABFLOW_DATA_DIR": os.environ.get("FABFLOW_DATA_DIR", scratch),
                }
            yield Setup(
                args.url.rstrip("/"),
                args.key,
                database_kind(args.database_url),
                env,
                database_name=postgres_name(args.database_url),
            )
        return
    tmp = Path(tempfile.mkdtemp(prefix="fabflow-bench-"))
    try:
        data_dir = tmp / "data"
        database_url = args.database_url or f"sqlite:///{data_dir / 'fabflow.sqlite3'}"
        port = free_port()
        env = {
            **os.environ,
            "FABFLOW_DATA_DIR": str(data_dir),
            "DATABASE_URL": database_url,
            "DEBUG": "false",
            "PORT": str(port),
            "BASE_URL": f"http://127.0.0.1:{port}",
            "DJANGO_SETTINGS_MODULE": "fabflow.settings",
        }
        if database_kind(database_url) == "postgresql":
            reset_postgres(database_url)
        fabflow(args.python, env, "migrate", "--noinput", "-v0")
        fabflow(args.python, env, "createorg", "Bench")
        fabflow(args.python, env, "createspace", "--org", "Bench", "--key", "bench")
        key = fabflow(args.python, env, "createkey", "--space", "bench", "--name", "bench")
        yield Setup(
            f"http://127.0.0.1:{port}",
            key.strip(),
            database_kind(database_url),
            env,
            tmp,
            postgres_name(database_url),
        )
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def gunicorn(args: argparse.Namespace, setup: Setup) -> Iterator[int | None]:
    """Serve the setup's database with gunicorn like `fabflow serve`; always stopped at exit.

    Yields the master's pid (None with --url: somebody else's server)."""
    if setup.env is None or setup.tmp is None:
        yield None
        return
    port = urlsplit(setup.base_url).port
    cmd = [
        args.python,
        "-m",
        "gunicorn",
        "fabflow.wsgi:application" if args.app == "fabflow" else "_bare_app:application",
        "--pythonpath",
        str(BENCH_DIR),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(args.workers),
        "--threads",
        str(args.threads),
        "--worker-class",
        "gthread",
        "--graceful-timeout",
        "10",
        "--no-control-socket",  # gunicorn 27 would otherwise claim ~/.gunicorn/gunicorn.ctl
    ]
    env = dict(setup.env)
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
        env["FABFLOW_BENCH_PROFILE_DIR"] = str(args.profile.resolve())
        cmd += ["--config", str(BENCH_DIR / "_gunicorn_profile.py")]
    cmd += args.server_arg
    log_path = setup.tmp / "gunicorn.log"
    with open(log_path, "wb") as log:
        # Own session: Ctrl-C reaches only this script, which then stops gunicorn in order.
        server = subprocess.Popen(
            cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_healthy(setup.base_url, server, log_path)
        yield server.pid
    finally:
        stop(server)
    if server.returncode not in (0, -signal.SIGTERM):
        print(f"warning: gunicorn exited with {server.returncode}; log:\n{tail(log_path)}")


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def wait_healthy(base_url: str, server: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with {server.returncode}:\n{tail(log_path)}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            status, _ = request_once(base_url, "GET", HEALTH_PATH, timeout=2)
            if status == 200:
                return
        time.sleep(0.2)
    raise SystemExit(f"no healthy server at {base_url} after 60 s:\n{tail(log_path)}")


def stop(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM (gunicorn finishes running requests); SIGKILL its session after 20 s or Ctrl-C."""
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            os.killpg(server.pid, signal.SIGKILL)  # the session we started: master and workers
            server.wait()


# --- HTTP -----------------------------------------------------------------------------------


def connection(base_url: str, timeout: float) -> http.client.HTTPConnection:
    parts = urlsplit(base_url)
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    return cls(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)


def request_once(
    base_url: str, method: str, path: str, *, key: str | None = None, timeout: float = 30
) -> tuple[int, bytes]:
    conn = connection(base_url, timeout)
    try:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        conn.request(method, urlsplit(base_url).path.rstrip("/") + path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@dataclass
class Sample:
    third_party_order_id: str
    status: int  # HTTP status; 0 when no response came (see error)
    error: str  # client-side failure ("timeout", "ConnectionResetError", ...), else ""
    start: float
    end: float


def client(
    index: int,
    setup: Setup,
    prefix: str,
    clients: int,
    deadline: float,
    timeout: float,
    stop_event: threading.Event,
    out: list[Sample],
) -> None:
    """POST orders over one persistent connection until the deadline; reconnect on failure."""
    conn = connection(setup.base_url, timeout)
    path = urlsplit(setup.base_url).path.rstrip("/") + ORDERS_PATH
    base_headers = {
        "Authorization": f"Bearer {setup.key}",
        "Content-Type": "application/json",
        "Accept": "application/json",
    }
    seq = 0
    while not stop_event.is_set() and time.perf_counter() < deadline:
        tpo = f"{prefix}{index}-{seq}"
        body = json.dumps(order_body(tpo, seq * clients + index)).encode()
        headers = dict(base_headers)
        if (index + seq) % 2 == 0:
            headers["Idempotency-Key"] = f"idem-{tpo}"
        status, error = 0, ""
        start = time.perf_counter()
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            status = response.status
            if response.will_close:
                conn.close()  # the next request opens a new connection
        except TimeoutError:
            error = "timeout"
            conn.close()
        except (OSError, http.client.HTTPException) as exc:
            error = type(exc).__name__
            conn.close()
        out.append(Sample(tpo, status, error, start, time.perf_counter()))
        seq += 1
    conn.close()


@dataclass
class CpuSnapshot:
    """CPU seconds used so far: whole machine (busy), this script, the server, the database."""

    machine: float
    client: float
    server: float
    database: float


def _proc_table() -> list[tuple[int, int, str, float]]:
    """(pid, ppid, command name, CPU seconds) of every process, from /proc (Linux only)."""
    tick = os.sysconf("SC_CLK_TCK")
    rows = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        rows.append((int(entry), int(fields[1]), name, (int(fields[11]) + int(fields[12])) / tick))
    return rows


def _serves_database(pid: int, database: str) -> bool:
    """Is this a PostgreSQL backend connected to `database` ("postgres: user db host ...")?"""
    try:
        title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, UnicodeDecodeError):
        return False
    return f" {database} " in title


def cpu_snapshot(server_pid: int | None, database: str | None) -> CpuSnapshot | None:
    """CPU used so far; `database` names the PostgreSQL database whose backends count."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        table = _proc_table()
    except (OSError, ValueError):
        return None
    tick = os.sysconf("SC_CLK_TCK")
    busy = (sum(values[:8]) - values[3] - values[4]) / tick  # without idle and iowait
    tree = {server_pid} if server_pid else set()
    grew = True
    while grew:  # the server's process tree: the gunicorn master and its workers
        children = {pid for pid, ppid, _, _ in table if ppid in tree} - tree
        tree |= children
        grew = bool(children)
    own = os.times()
    db_cpu = 0.0
    if database:
        db_cpu = sum(
            cpu
            for pid, _, name, cpu in table
            if name == "postgres" and _serves_database(pid, database)
        )
    return CpuSnapshot(
        machine=busy,
        client=own.user + own.system,
        server=sum(cpu for pid, _, _, cpu in table if pid in tree),
        database=db_cpu,
    )


@dataclass
class LoadResult:
    samples: list[Sample]
    window_start: float
    window_end: float
    cpu: dict[str, float] | None  # CPU seconds used during the measured window


def _sleep_until(moment: float, threads: list[threading.Thread]) -> None:
    while time.perf_counter() < moment and any(t.is_alive() for t in threads):
        time.sleep(min(0.2, max(0.0, moment - time.perf_counter())))


def run_load(
    setup: Setup, args: argparse.Namespace, prefix: str, server_pid: int | None
) -> LoadResult:
    stop_event = threading.Event()
    outs: list[list[Sample]] = [[] for _ in range(args.clients)]
    window_start = time.perf_counter() + args.warmup
    window_end = window_start + args.seconds
    threads = [
        threading.Thread(
            target=client,
            args=(i, setup, prefix, args.clients, window_end, args.timeout, stop_event, outs[i]),
            name=f"client-{i}",
            daemon=True,
        )
        for i in range(args.clients)
    ]
    cpu = None
    try:
        for thread in threads:
            thread.start()
        _sleep_until(window_start, threads)
        before = cpu_snapshot(server_pid, setup.database_name)
        _sleep_until(window_end, threads)
        after = cpu_snapshot(server_pid, setup.database_name)
        if before and after:
            cpu = {
                name: getattr(after, name) - getattr(before, name)
                for name in ("machine", "client", "server", "database")
            }
        for thread in threads:
            while thread.is_alive():
                thread.join(0.2)
    finally:
        stop_event.set()
    return LoadResult([s for out in outs for s in out], window_start, window_end, cpu)


# --- verification ---------------------------------------------------------------------------


@dataclass
class Verification:
    accepted: int  # distinct thirdPartyOrderIds answered 2xx
    listed: int  # distinct thirdPartyOrderIds of this run in the list
    pages: int
    lost: list[str]
    duplicated: dict[str, int]
    unexpected_after_client_error: list[str]  # no response (timeout, reset): outcome unknown
    unexpected_after_error_status: list[str]  # answered 4xx/5xx, yet stored: a bug


def list_run_orders(setup: Setup, prefix: str, timeout: float) -> tuple[Counter[str], int]:
    """How often each thirdPartyOrderId of this run appears in GET /orders, following `next`."""
    counts: Counter[str] = Counter()
    root = urlsplit(setup.base_url).path.rstrip("/")
    path: str | None = f"{root}{ORDERS_PATH}?limit=200"
    pages = 0
    conn = connection(setup.base_url, timeout)
    try:
        while path:
            conn.request("GET", path, headers={"Authorization": f"Bearer {setup.key}"})
            response = conn.getresponse()
            data = response.read()
            if response.status != 200:
                raise SystemExit(f"GET {path} answered {response.status}: {data[:300]!r}")
            page = json.loads(data)
            pages += 1
            for item in page["items"]:
                if item["thirdPartyOrderId"].startswith(prefix):
                    counts[item["thirdPartyOrderId"]] += 1
            following = page.get("next")
            if following:
                parts = urlsplit(following)
                path = f"{parts.path}?{parts.query}"
            else:
                path = None
    finally:
        conn.close()
    return counts, pages


def verify(setup: Setup, load: LoadResult, prefix: str, timeout: float) -> Verification:
    accepted = {s.third_party_order_id for s in load.samples if 200 <= s.status < 300}
    client_errors = {s.third_party_order_id for s in load.samples if s.status == 0}
    counts, pages = list_run_orders(setup, prefix, timeout)
    listed = set(counts)
    unexpected = sorted(listed - accepted)
    return Verification(
        accepted=len(accepted),
        listed=len(listed),
        pages=pages,
        lost=sorted(accepted - listed),
        duplicated={tpo: n for tpo, n in counts.items() if n > 1},
        unexpected_after_client_error=[t for t in unexpected if t in client_errors],
        unexpected_after_error_status=[t for t in unexpected if t not in client_errors],
    )


# --- service-layer baseline -----------------------------------------------------------------


def run_baseline(
    args: argparse.Namespace, setup: Setup, prefix: str
) -> dict[str, Any] | str | None:
    """The baseline's JSON figures, an error message, or None when skipped."""
    if args.baseline_seconds <= 0:
        return None
    if setup.env is None:
        return "skipped: pass --database-url (the server's database) to run it with --url"
    env = {
        **setup.env,
        "DJANGO_SETTINGS_MODULE": "fabflow.settings",
        "FABFLOW_BENCH_KEY": setup.key,
        "LOG_LEVEL": "WARNING",
    }
    cmd = [
        args.python,
        str(BENCH_DIR / "_service_baseline.py"),
        "--seconds",
        str(args.baseline_seconds),
        "--prefix",
        f"{prefix}svc-",
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return f"failed: {proc.stderr.strip()[-500:]}"
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# --- report ---------------------------------------------------------------------------------


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted values (NaN when empty)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass
class Figures:
    database: str | None
    workers: int | None
    threads: int | None
    clients: int
    seconds: float
    requests: int
    accepted_in_window: int
    orders_per_second: float
    latency_ms: dict[str, float]
    statuses: dict[str, int]
    client_errors: dict[str, int]
    verification: Verification
    baseline: dict[str, Any] | str | None = None
    http_to_service: float | None = None
    target_orders_per_second: float | None = None
    body_bytes: int = 0
    # CPU milliseconds per accepted order in the window: server, database, client, other load
    cpu_ms_per_order: dict[str, float] | None = None
    machine_busy: float | None = None  # share of all CPUs busy during the window
    cpu_bound_ceiling: float | None = None  # orders/s if server + database had every CPU


def summarize(
    args: argparse.Namespace, setup: Setup, load: LoadResult, verification: Verification
) -> Figures:
    window = [s for s in load.samples if load.window_start <= s.end <= load.window_end]
    ok = [s for s in window if 200 <= s.status < 300]
    latencies = sorted(1000 * (s.end - s.start) for s in window if s.status)
    statuses = Counter(str(s.status) for s in load.samples if s.status)
    errors = Counter(s.error for s in load.samples if s.error)
    own = args.url is None
    figures = Figures(
        database=setup.database,
        workers=args.workers if own else None,
        threads=args.threads if own else None,
        clients=args.clients,
        seconds=args.seconds,
        requests=len(load.samples),
        accepted_in_window=len(ok),
        orders_per_second=len(ok) / args.seconds,
        latency_ms={
            "p50": percentile(latencies, 50),
            "p95": percentile(latencies, 95),
            "p99": percentile(latencies, 99),
            "max": latencies[-1] if latencies else math.nan,
        },
        statuses=dict(sorted(statuses.items())),
        client_errors=dict(sorted(errors.items())),
        verification=verification,
        target_orders_per_second=TARGETS.get(setup.database or ""),
        body_bytes=len(json.dumps(order_body("bench-0000000000-0-0", 0))),
    )
    cpu = load.cpu
    if cpu and ok:
        per_order = {k: 1000 * v / len(ok) for k, v in cpu.items()}
        per_order["other"] = per_order.pop("machine") - sum(per_order.values())
        if not own:
            per_order["other"] += per_order.pop("server")  # not ours to see
        figures.cpu_ms_per_order = per_order
        ncpu = os.cpu_count() or 1
        figures.machine_busy = cpu["machine"] / (args.seconds * ncpu)
        if own:
            server_ms = per_order["server"] + per_order["database"]
            figures.cpu_bound_ceiling = 1000 * ncpu / server_ms if server_ms else None
    return figures


def print_report(figures: Figures) -> None:
    v = figures.verification
    server = (
        f"{figures.workers} workers x {figures.threads} threads"
        if figures.workers
        else "existing server"
    )
    print()
    print(
        f"Fabflow order intake: {figures.database or 'unknown database'}, {server}, "
        f"{figures.clients} clients, {figures.seconds:g} s, ~{figures.body_bytes} B bodies"
    )
    target = figures.target_orders_per_second
    if target is not None:
        met = "met" if figures.orders_per_second >= target else "NOT met"
        target_text = f"target >= {target:g} orders/s on 2 cores ({met})"
    else:
        target_text = "targets >= 200 orders/s PostgreSQL, >= 150 SQLite (2 cores)"
    print(f"  throughput   {figures.orders_per_second:8.1f} orders/s   {target_text}")
    lat = figures.latency_ms
    print(
        f"  latency ms   p50 {lat['p50']:.1f}   p95 {lat['p95']:.1f}   p99 {lat['p99']:.1f}"
        f"   max {lat['max']:.1f}"
    )
    non_2xx = {k: n for k, n in figures.statuses.items() if not k.startswith("2")}
    print(
        f"  requests     {figures.requests} (warm-up and tail included); by status "
        + (", ".join(f"{k}: {n}" for k, n in figures.statuses.items()) or "none")
    )
    print(
        "  errors       non-2xx "
        + (", ".join(f"{k}: {n}" for k, n in non_2xx.items()) or "0")
        + "; no response "
        + (", ".join(f"{k}: {n}" for k, n in figures.client_errors.items()) or "0")
    )
    cpu = figures.cpu_ms_per_order
    if cpu is not None and figures.machine_busy is not None:
        print(
            "  CPU ms/order "
            + "   ".join(f"{k} {ms:.1f}" for k, ms in cpu.items())
            + f"   (machine {100 * figures.machine_busy:.0f}% busy on {os.cpu_count()} CPUs"
            + (
                f"; server + database alone would allow ~{figures.cpu_bound_ceiling:.0f} orders/s)"
                if figures.cpu_bound_ceiling
                else ")"
            )
        )
    print(
        f"  check        {v.accepted} accepted, {v.listed} listed ({v.pages} pages): "
        f"lost {len(v.lost)}, duplicated {len(v.duplicated)}, "
        f"unexpected {len(v.unexpected_after_client_error)} after a client-side error"
        f" + {len(v.unexpected_after_error_status)} after an error status"
    )
    for label, ids in (
        ("lost", v.lost),
        ("duplicated", list(v.duplicated)),
        ("stored despite an error status", v.unexpected_after_error_status),
    ):
        if ids:
            print(f"    {label}: {', '.join(ids[:10])}{' ...' if len(ids) > 10 else ''}")
    baseline = figures.baseline
    if isinstance(baseline, dict):
        print(
            f"  service      {baseline['ordersPerSecond']:8.1f} orders/s   create_order in one "
            f"thread, no HTTP ({baseline['validateMsPerOrder']:.2f} ms validate + "
            f"{baseline['createMsPerOrder']:.2f} ms create per order)"
        )
        print(f"  HTTP/service {figures.http_to_service:8.2f}")
    elif baseline is not None:
        print(f"  service      {baseline}")


def print_profile(directory: Path, limit: int = 25) -> None:
    import pstats

    files = sorted(str(p) for p in directory.glob("worker-*.prof"))
    if not files:
        print(f"no profiles in {directory}")
        return
    stats = pstats.Stats(*files)
    stats.strip_dirs()
    print(f"\nServer-side profile ({len(files)} worker(s), {directory}):")
    stats.sort_stats("cumulative").print_stats(limit)
    stats.sort_stats("tottime").print_stats(limit)


# --- main -----------------------------------------------------------------------------------


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # so that every `finally` stops the server and removes the data


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started with it ignored
    prefix = f"bench-{uuid.uuid4().hex[:10]}-"
    with prepared(args) as setup:
        with gunicorn(args, setup) as server_pid:
            print(
                f"loading {setup.base_url} with {args.clients} clients for "
                f"{args.warmup:g} + {args.seconds:g} s ...",
                flush=True,
            )
            load = run_load(setup, args, prefix, server_pid)
            verification = verify(setup, load, prefix, args.timeout)
        figures = summarize(args, setup, load, verification)
        figures.baseline = run_baseline(args, setup, prefix)
        if isinstance(figures.baseline, dict) and figures.baseline["ordersPerSecond"]:
            figures.http_to_service = (
                figures.orders_per_second / figures.baseline["ordersPerSecond"]
            )
    print_report(figures)
    if args.profile:
        print_profile(args.profile)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(asdict(figures), indent=2, default=str) + "\n")
    if verification.lost or verification.duplicated:
        return 1
    if verification.accepted == 0:
        return 3
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
