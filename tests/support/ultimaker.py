"""A fake Ultimaker printer: the local HTTP API (/api/v1) on 127.0.0.1, in a thread.

It behaves like the printer where Fabflow depends on it: reading is open, starting a job needs
HTTP digest authentication (realm "Jedi-API-Digest", qop "auth", a nonce per challenge) with the
id/key pair that `POST /auth/request` hands out; a request with a wrong pair gets 401 and a fresh
challenge. The upload is parsed as multipart (`jobname` and a G-code `file`). A busy printer and
a job that goes pre_print -> printing -> post_print -> wait_cleanup, then to the history once the
plate is cleared, are played one step per poll of `GET /print_job`.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import socket
import threading
import uuid
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from werkzeug.datastructures import Authorization

REALM = "Jedi-API-Digest"
JOB_STATES = ["pre_print", "printing", "printing", "post_print", "wait_cleanup"]
FOREIGN = "someone else's job"


@dataclass
class Upload:
    jobname: str
    filename: str
    content: bytes


@dataclass
class FakeUltimaker:
    """Knobs: `busy_polls` (someone else's job is printing for that many polls of
    `GET /print_job`), `statuses` (what `GET /printer/status` answers first, with no job, e.g.
    "booting"), `result` ("Finished" or "Aborted"), `algorithm` (MD5 or SHA-256),
    `drop_upload_reply` (accept the job, then close the connection without answering),
    `errors` (statuses answered to the next requests, one each, e.g. 503)."""

    busy_polls: int = 0
    statuses: list[str] = field(default_factory=list)
    result: str = "Finished"
    algorithm: str = "MD5"
    drop_upload_reply: bool = False
    errors: list[int] = field(default_factory=list)
    port: int = 0
    credentials: dict[str, str] = field(default_factory=dict)  # id -> key
    uploads: list[Upload] = field(default_factory=list)
    requests: list[tuple[str, str, bool]] = field(default_factory=list)  # method, path, signed
    refused: int = 0
    job: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    nonces: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None
    _job_polls: int = 0

    # -- life --
    def start(self) -> FakeUltimaker:
        printer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                printer.handle(self, "GET")

            def do_POST(self) -> None:
                printer.handle(self, "POST")

            def log_message(self, *args: Any) -> None:
                pass

        if self.busy_polls:
            self.job = self._job(FOREIGN, state="printing")
        self.server = _QuietServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pair(self) -> dict[str, str]:
        """A new id/key pair, as `POST /auth/request` hands out (approved at once)."""
        pair = {"id": secrets.token_hex(16), "key": secrets.token_hex(32)}
        self.credentials[pair["id"]] = pair["key"]
        return pair

    # -- HTTP --
    def handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        path = urlsplit(request.path).path.removeprefix("/api/v1")
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        signed = self.authorized(request, method)
        with self.lock:
            self.requests.append((method, path, signed))
        routes = {
            ("GET", "/printer/status"): self.get_status,
            ("GET", "/print_job"): self.get_job,
            ("GET", "/history/print_jobs"): lambda: (200, list(self.history)),
            ("GET", "/auth/verify"): lambda: (200, {"message": "ok"}),
            ("POST", "/auth/request"): lambda: (200, self.pair()),
        }
        with self.lock:
            error = self.errors.pop(0) if self.errors else None
        if error is not None:
            self.answer(request, error, {"message": "The printer is updating its firmware"})
            return
        if path.startswith("/auth/check/"):
            known = path.removeprefix("/auth/check/") in self.credentials
            self.answer(request, 200, {"message": "authorized" if known else "unknown"})
            return
        if (method, path) in (("GET", "/auth/verify"), ("POST", "/print_job")) and not signed:
            with self.lock:
                self.refused += "Authorization" in request.headers
            self.challenge(request)
            return
        if (method, path) == ("POST", "/print_job"):
            self.post_job(request, body)
            return
        route = routes.get((method, path))
        if route is None:
            self.answer(request, 404, {"message": "Not found"})
            return
        status, data = route()
        self.answer(request, status, data)

    def answer(self, request: BaseHTTPRequestHandler, status: int, data: Any) -> None:
        body = json.dumps(data).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    # -- digest authentication, as the printer does it --
    def challenge(self, request: BaseHTTPRequestHandler) -> None:
        nonce = secrets.token_hex(16)
        with self.lock:
            self.nonces.add(nonce)
        body = json.dumps({"message": "Authorization required."}).encode()
        request.send_response(401)
        request.send_header(
            "WWW-Authenticate",
            f'Digest realm="{REALM}", nonce="{nonce}", qop="auth", algorithm={self.algorithm}',
        )
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    def authorized(self, request: BaseHTTPRequestHandler, method: str) -> bool:
        auth = Authorization.from_header(request.headers.get("Authorization"))
        if auth is None or auth.type != "digest":
            return False
        key = self.credentials.get(auth.username or "")
        if key is None or auth.nonce not in self.nonces or auth.realm != REALM:
            return False
        if auth.uri != request.path or auth.qop != "auth" or not auth.nc or not auth.cnonce:
            return False
        h = hashlib.sha256 if self.algorithm == "SHA-256" else hashlib.md5

        def hexd(text: str) -> str:
            return h(text.encode()).hexdigest()

        ha1 = hexd(f"{auth.username}:{REALM}:{key}")
        ha2 = hexd(f"{method}:{auth.uri}")
        expected = hexd(f"{ha1}:{auth.nonce}:{auth.nc}:{auth.cnonce}:auth:{ha2}")
        return secrets.compare_digest(expected, auth.response or "")

    # -- the printer --
    def get_status(self) -> tuple[int, Any]:
        with self.lock:
            if self.job is None and self.statuses:
                return 200, self.statuses.pop(0)
            return 200, "idle" if self.job is None else "printing"

    def get_job(self) -> tuple[int, Any]:
        with self.lock:
            job = self.job
            if job is not None and job["name"] == FOREIGN:
                self.busy_polls -= 1
                if self.busy_polls < 0:
                    self.job = job = None  # its owner took it off the plate
            if job is None:
                return 404, {"message": "No print job active"}
            if job["name"] != FOREIGN:
                self._advance(job)
            return 200, dict(job)

    def _advance(self, job: dict[str, Any]) -> None:
        if job["result"]:
            return
        self._job_polls += 1
        step = min(self._job_polls, len(JOB_STATES) - 1)
        if self.result != "Finished" and step >= 2:
            job.update(state="wait_cleanup", result=self.result, datetime_finished="2026-12-08")
            return
        job.update(state=JOB_STATES[step], progress=step / (len(JOB_STATES) - 1))
        job["time_elapsed"] = 600 * step
        if JOB_STATES[step] == "wait_cleanup":
            job.update(result="Finished", datetime_finished="2026-12-08T10:40:00")

    def clear_plate(self) -> None:
        """The job prints to its end at once and someone clears the plate: it moves to the
        history and the printer is idle."""
        with self.lock:
            assert self.job is not None
            self.job.update(state="wait_cleanup", result=self.result, progress=1.0)
            self.job.update(time_elapsed=2400, datetime_finished="2026-12-08T10:40:00")
            self.history.insert(0, self.job)
            self.job = None

    def _job(self, name: str, *, state: str = "pre_print") -> dict[str, Any]:
        return {
            "name": name,
            "uuid": str(uuid.uuid4()),
            "state": state,
            "result": "",
            "progress": 0.0,
            "time_elapsed": 0,
            "time_total": 2400,
            "datetime_started": "2026-12-08T10:00:00",
            "datetime_finished": "",
            "source": "WEB_API",
        }

    def post_job(self, request: BaseHTTPRequestHandler, body: bytes) -> None:
        message = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {request.headers.get('Content-Type')}\r\n\r\n".encode() + body
        )
        fields: dict[str, tuple[str | None, bytes]] = {}
        for part in message.iter_parts():  # type: ignore[attr-defined]
            name = part.get_param("name", header="content-disposition")
            fields[name] = (part.get_filename(), part.get_payload(decode=True))
        if set(fields) != {"jobname", "file"} or not fields["file"][0]:
            self.answer(request, 400, {"message": "Expected the fields jobname and file"})
            return
        filename, content = fields["file"]
        if not (filename or "").endswith(".gcode") or not content.lstrip().startswith((b";", b"G")):
            self.answer(request, 400, {"message": "File is not G-code"})
            return
        with self.lock:
            if self.job is not None:
                self.answer(request, 405, {"message": "Printer is busy"})
                return
            jobname = fields["jobname"][1].decode()
            self.uploads.append(Upload(jobname, filename or "", content))
            self.job = self._job(jobname)
            self._job_polls = 0
        if self.drop_upload_reply:
            self.drop_upload_reply = False
            request.close_connection = True
            request.connection.shutdown(socket.SHUT_RDWR)
            return
        self.answer(request, 201, {"message": "Print job created", "uuid": self.job["uuid"]})


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a dropped reply (drop_upload_reply) breaks the handler's last flush on purpose
