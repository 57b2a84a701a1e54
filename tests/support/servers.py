"""Real local servers for fault tests: a connector stub that sends feedback, an SMTP sink."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Call:
    webhook_id: str
    order_id: str
    started: float
    ended: float = 0.0


@dataclass
class ConnectorStub:
    """Answers 200 to each task.started call, then POSTs success to its feedbackUrl."""

    feedback_delay: float = 0.05
    # With hold_first, the first call waits for `release` before answering: a test can act
    # (kill the caller) while that call is certainly in flight.
    hold_first: bool = False
    release: threading.Event = field(default_factory=threading.Event)
    calls: list[Call] = field(default_factory=list)
    in_flight: dict[str, int] = field(default_factory=dict)
    overlaps: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/export"

    def start(self) -> ConnectorStub:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.received(self.headers["webhook-id"], body)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def received(self, webhook_id: str, body: dict[str, Any]) -> None:
        call = Call(webhook_id, body["order"]["id"], time.monotonic())
        with self.lock:
            self.in_flight[webhook_id] = self.in_flight.get(webhook_id, 0) + 1
            if self.in_flight[webhook_id] > 1:
                self.overlaps += 1
            self.calls.append(call)
            held = self.hold_first and len(self.calls) == 1
        if held:
            # The caller is gone by now (the test killed it): no feedback for this call, so
            # only its redelivery can finish the task.
            self.release.wait(60)
        time.sleep(0.01)
        with self.lock:
            self.in_flight[webhook_id] -= 1
            call.ended = time.monotonic()
        if held:
            return
        threading.Thread(target=self._feedback, args=(body["feedbackUrl"],), daemon=True).start()

    def _feedback(self, url: str) -> None:
        time.sleep(self.feedback_delay)
        data = json.dumps({"status": "success", "message": "made"}).encode()
        request = urllib.request.Request(
            url, data=data, method="POST", headers={"Content-Type": "application/json"}
        )
        for _ in range(50):
            try:
                with urllib.request.urlopen(request, timeout=10):
                    return
            except urllib.error.HTTPError as exc:
                if exc.code in (404, 409):
                    return
            except OSError:
                pass
            time.sleep(0.2)

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()


class _Sink:
    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.peers: list[Any] = []  # the client's address of each message: one per session

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.content)
        self.peers.append(session.peer)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SmtpSink:
    """An aiosmtpd server on 127.0.0.1 keeping every message it accepts."""

    def __init__(self, port: int | None = None) -> None:
        self.handler = _Sink()
        self.port = port or free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def start(self) -> SmtpSink:
        self.controller.start()
        return self

    @property
    def messages(self) -> list[bytes]:
        return self.handler.messages

    @property
    def sessions(self) -> int:
        """How many SMTP sessions delivered the messages (distinct client addresses)."""
        return len(set(self.handler.peers))

    def stop(self) -> None:
        if self.controller._thread is not None:  # stopping twice is a no-op
            self.controller.stop()
