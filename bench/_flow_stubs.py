"""Local peers for bench/flows.py: an SMTP sink and a connector stub that sends feedback.

Adapted from tests/support/servers.py (bench code does not import the test suite). Imports
nothing from Fabflow: the engine talks to these servers over real sockets.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Sink:
    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.count += 1
        return "250 OK"


class SmtpSink:
    """An aiosmtpd server on 127.0.0.1 that accepts and counts every message."""

    def __init__(self) -> None:
        self.handler = _Sink()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def start(self) -> SmtpSink:
        self.controller.start()
        return self

    @property
    def messages(self) -> int:
        return self.handler.count

    def stop(self) -> None:
        self.controller.stop()


class ConnectorStub:
    """Answers 200 to every POST, then POSTs {"status": "success"} to the body's feedbackUrl.

    Feedback goes out from a small thread pool right after the answer; a request without a
    feedbackUrl (the baseline's) is only counted. `calls` counts requests per webhook-id, so
    redeliveries show up as ids seen more than once.
    """

    def __init__(self, feedback_threads: int = 8) -> None:
        self.calls: Counter[str] = Counter()
        self.feedback_failures = 0
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=feedback_threads, thread_name_prefix="feedback")
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/export"

    def start(self) -> ConnectorStub:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")
                self.wfile.flush()
                stub.received(self.headers.get("webhook-id") or "", raw)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def received(self, webhook_id: str, raw: bytes) -> None:
        with self.lock:
            self.calls[webhook_id] += 1
        try:
            url = json.loads(raw).get("feedbackUrl")
        except (ValueError, AttributeError):
            url = None
        if url:
            self.pool.submit(self._feedback, url)

    def _feedback(self, url: str) -> None:
        data = json.dumps({"status": "success", "message": "made"}).encode()
        request = urllib.request.Request(
            url, data=data, method="POST", headers={"Content-Type": "application/json"}
        )
        for _ in range(50):
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    response.read()
                    return
            except urllib.error.HTTPError as exc:
                if exc.code in (404, 409):
                    break
            except OSError:
                pass
            time.sleep(0.2)
        with self.lock:
            self.feedback_failures += 1

    def snapshot(self) -> tuple[int, int]:
        """(requests so far, webhook-ids seen more than once so far)."""
        with self.lock:
            return sum(self.calls.values()), sum(1 for n in self.calls.values() if n > 1)

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        self.pool.shutdown(wait=False, cancel_futures=True)
