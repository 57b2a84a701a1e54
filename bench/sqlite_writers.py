"""SQLite write-lock contention: short write transactions from several processes and threads.

Each of --processes processes runs --threads threads; each thread repeats for --seconds: one
transaction (`transaction.atomic`, so `BEGIN IMMEDIATE`) that INSERTs --rows rows and holds
the lock for --hold-ms of work, as an order's intake does. Runs once with Django's SQLite
backend (SQLite's busy handler: sleeps of 1, 2, 5, ... 25, 50, 100 ms) and once with
`fabflow.core.sqlite` (writers queue in the process, one per process polls), on a fresh WAL
database each, and prints transactions/s, p50/p99/max wait for the lock and CPU seconds.

    .venv/bin/python bench/sqlite_writers.py
    .venv/bin/python bench/sqlite_writers.py --processes 4 --threads 4 --seconds 10
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENGINES = {"django": "django.db.backends.sqlite3", "fabflow": "fabflow.core.sqlite"}


def worker(args: argparse.Namespace) -> None:
    import threading

    import django
    from django.conf import settings

    settings.configure(
        DATABASES={
            "default": {
                "ENGINE": ENGINES[args.engine],
                "NAME": args.db,
                "OPTIONS": {
                    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                    "transaction_mode": "IMMEDIATE",
                    "timeout": 30,
                },
            }
        },
        INSTALLED_APPS=[],
        USE_TZ=True,
    )
    django.setup()
    from django.db import connection, transaction

    waits: list[float] = []
    done = [0]
    lock = threading.Lock()
    start_at = float(args.start_at)

    def run() -> None:
        mine: list[float] = []
        while time.time() < start_at:
            time.sleep(0.001)
        end = start_at + args.seconds
        count = 0
        while time.time() < end:
            t0 = time.perf_counter()
            with transaction.atomic():
                mine.append(time.perf_counter() - t0)
                with connection.cursor() as cursor:
                    cursor.executemany(
                        "INSERT INTO t (payload) VALUES (%s)", [("x" * 200,)] * args.rows
                    )
                spin = time.perf_counter() + args.hold_ms / 1000
                while time.perf_counter() < spin:
                    pass
            count += 1
        connection.close()
        with lock:
            waits.extend(mine)
            done[0] += count

    threads = [threading.Thread(target=run) for _ in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"done": done[0], "waits": waits, "cpu": usage.ru_utime + usage.ru_stime}))


def measure(args: argparse.Namespace, engine: str, directory: Path) -> dict[str, float]:
    import sqlite3

    db = directory / f"{engine}.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, payload TEXT)")
    start_at = time.time() + 1.5
    cmd = [sys.executable, __file__, "--worker", "--engine", engine, "--db", str(db)]
    cmd += ["--start-at", str(start_at), "--seconds", str(args.seconds)]
    cmd += [
        "--threads",
        str(args.threads),
        "--rows",
        str(args.rows),
        "--hold-ms",
        str(args.hold_ms),
    ]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE) for _ in range(args.processes)]
    results = [json.loads(p.communicate()[0]) for p in procs]
    waits = sorted(w for r in results for w in r["waits"])
    done = sum(r["done"] for r in results)
    return {
        "tx/s": done / args.seconds,
        "wait p50 ms": 1000 * statistics.median(waits),
        "wait p99 ms": 1000 * waits[int(0.99 * (len(waits) - 1))],
        "wait max ms": 1000 * waits[-1],
        "cpu s": sum(r["cpu"] for r in results),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rows", type=int, default=8)
    parser.add_argument("--hold-ms", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--engine", default="django", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--start-at", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    print(
        f"{args.processes} processes x {args.threads} threads, {args.rows} rows and "
        f"{args.hold_ms:g} ms of work per transaction, {args.seconds:g} s per run"
    )
    with tempfile.TemporaryDirectory(prefix="fabflow-sqlite-writers-") as tmp:
        for round_ in range(args.rounds):
            for engine in ENGINES:
                directory = Path(tmp) / f"{round_}"
                directory.mkdir(exist_ok=True)
                figures = measure(args, engine, directory)
                line = "  ".join(f"{k} {v:7.1f}" for k, v in figures.items())
                print(f"  {engine:8s} {line}", flush=True)


if __name__ == "__main__":
    os.environ.pop("DJANGO_SETTINGS_MODULE", None)
    main()
