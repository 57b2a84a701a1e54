"""Gunicorn config for `bench/intake.py --profile DIR`: cProfile around every request.

Each worker wraps its WSGI application so that every request runs under a per-thread
cProfile.Profile (server-side application time only: gunicorn's own socket and HTTP parsing
work is not included); when the worker exits, the merged profile is written to
$FABFLOW_BENCH_PROFILE_DIR/worker-<pid>.prof.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import threading
from collections.abc import Callable, Iterable
from typing import Any

_profiles: list[cProfile.Profile] = []
_lock = threading.Lock()
_local = threading.local()

App = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _profiled(app: App) -> App:
    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        profile = getattr(_local, "profile", None)
        if profile is None:
            profile = _local.profile = cProfile.Profile()
            with _lock:
                _profiles.append(profile)
        profile.enable()
        try:
            return app(environ, start_response)
        finally:
            profile.disable()

    return wrapped


def post_worker_init(worker: Any) -> None:
    worker.wsgi = _profiled(worker.wsgi)


def worker_exit(server: Any, worker: Any) -> None:
    with _lock:
        profiles = [p for p in _profiles if p.getstats()]
    if not profiles:
        return
    stats = pstats.Stats(profiles[0])
    for profile in profiles[1:]:
        stats.add(profile)
    directory = os.environ["FABFLOW_BENCH_PROFILE_DIR"]
    stats.dump_stats(os.path.join(directory, f"worker-{os.getpid()}.prof"))
