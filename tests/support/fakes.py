"""The common part of the partner fakes: a real HTTP server on 127.0.0.1 (werkzeug), a log of
what it received, shape violations, and trouble on demand (down, rate-limited, slow, refusing)."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from werkzeug import Request, Response
from werkzeug.serving import BaseWSGIServer, make_server

DATA = Path(__file__).resolve().parent.parent / "data"


def recorded(partner: str, name: str) -> Any:
    """A recorded example document of tests/data/<partner>/."""
    return json.loads((DATA / partner / name).read_text())


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any = None
    form: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, str, bytes]] = field(default_factory=dict)  # name, type, bytes


@dataclass
class Trouble:
    """The next `times` requests matching `method` and the path regex get this answer (or,
    with `stall`, an answer only after `stall` seconds)."""

    method: str
    path: str
    status: int
    body: Any
    headers: dict[str, str]
    times: int
    stall: float = 0.0


class FakePartner:
    """Subclasses route requests with `route(request, received) -> Response`."""

    prefix = ""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.violations: list[str] = []
        self.troubles: list[Trouble] = []
        self.lock = threading.RLock()
        self.server: BaseWSGIServer | None = None

    # -- the server --
    def start(self) -> FakePartner:
        self.server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_port}{self.prefix}"

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        return self._answer(request)(environ, start_response)

    def _answer(self, request: Request) -> Response:
        got = Received(
            request.method,
            request.path.removeprefix(self.prefix),
            dict(request.args),
            dict(request.headers),
            request.get_json(silent=True) if request.mimetype == "application/json" else None,
            dict(request.form),
            {k: (f.filename or "", f.mimetype, f.read()) for k, f in request.files.items()},
        )
        with self.lock:
            self.received.append(got)
            trouble = self._trouble(got)
        if trouble is not None:
            if trouble.stall:
                time.sleep(trouble.stall)
            else:
                return self.answer(trouble.status, trouble.body, trouble.headers)
        with self.lock:
            try:
                return self.route(request, got)
            except Exception as exc:  # a bug of the fake: shown to the test, not hidden
                self.violations.append(f"the fake crashed: {exc!r}")
                raise

    def _trouble(self, got: Received) -> Trouble | None:
        for trouble in self.troubles:
            matches = trouble.method in ("*", got.method) and re.search(trouble.path, got.path)
            if trouble.times > 0 and matches:
                trouble.times -= 1
                return trouble
        return None

    # -- what a test asks for --
    def trouble(
        self,
        status: int,
        body: Any = None,
        *,
        method: str = "*",
        path: str = "",
        times: int = 1,
        headers: dict[str, str] | None = None,
        stall: float = 0.0,
    ) -> None:
        with self.lock:
            self.troubles.append(Trouble(method, path, status, body, headers or {}, times, stall))

    def down(self, times: int = 1, *, method: str = "*", path: str = "") -> None:
        """Answer 503 with a proxy's HTML page, as a partner behind a load balancer does."""
        page = "<html><body><h1>503 Service Unavailable</h1></body></html>"
        self.trouble(503, page, method=method, path=path, times=times)

    def calls(self, method: str, pattern: str) -> list[Received]:
        with self.lock:
            return [
                r for r in self.received if r.method == method and re.fullmatch(pattern, r.path)
            ]

    # -- answers --
    @staticmethod
    def answer(status: int, body: Any = None, headers: dict[str, str] | None = None) -> Response:
        if isinstance(body, str):
            return Response(body, status, headers, mimetype="text/html")
        text = "" if body is None else json.dumps(body)
        return Response(text, status, headers, mimetype="application/json")

    def violation(self, message: str) -> Response:
        """A request of the wrong shape: recorded for the test, and refused."""
        self.violations.append(message)
        return self.answer(400, {"detail": f"fake: {message}"})

    def route(self, request: Request, got: Received) -> Response:
        raise NotImplementedError


def exact_keys(
    document: Any, required: set[str], optional: frozenset[str] | set[str] = frozenset()
) -> str | None:
    """Why `document` is not an object with exactly these keys, or None."""
    if not isinstance(document, dict):
        return f"expected a JSON object, got {document!r}"
    missing = required - document.keys()
    unknown = document.keys() - required - optional
    if missing or unknown:
        return f"missing {sorted(missing)}, unknown {sorted(unknown)}"
    return None
