"""A fake HP Site Flow on 127.0.0.1: checks HMAC signatures and order documents like Site Flow,
answers with the recorded documents of tests/data/siteflow/, and can misbehave on demand."""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

DATA = Path(__file__).resolve().parent.parent / "data" / "siteflow"
PREFIX = "/siteflow"  # like https://printos.api.hp.com/siteflow: the prefix is signed too
MAX_SKEW_S = 300
REQUIRED_SHIP_TO = ("name", "address1", "town", "postcode", "isoCountry")


def recorded(name: str) -> Any:
    return json.loads((DATA / name).read_text())


@dataclass
class Received:
    method: str
    path: str  # without the query
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeSiteflow:
    """Site Flow for one source account (`fabflow-shop`) with one key pair."""

    key: str = "fabflow-key"
    secret: str = "fabflow-secret-of-32-characters!"
    account: str = "fabflow-shop"
    # Misbehaviour: the next `down` requests get 503, the next `limited` 429 (Retry-After 1);
    # `refuse` makes validation (and submission) refuse the document; `stall_submit_s` answers
    # a submission that late, after the order was created.
    down: int = 0
    limited: int = 0
    refuse: bool = False
    stall_submit_s: float = 0.0
    requests: list[Received] = field(default_factory=list)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)  # by sourceOrderId
    ids: Any = field(default_factory=lambda: itertools.count(1))
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}{PREFIX}"

    def start(self) -> FakeSiteflow:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.handle(self)

            def do_POST(self) -> None:
                fake.handle(self)

            def do_PUT(self) -> None:
                fake.handle(self)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    # -- requests --
    def handle(self, request: BaseHTTPRequestHandler) -> None:
        split = urlsplit(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        received = Received(
            request.command, split.path, parse_qs(split.query), dict(request.headers), body
        )
        with self.lock:
            self.requests.append(received)
            status, answer, headers = self.answer(received)
        if status == 201 and self.stall_submit_s:
            time.sleep(self.stall_submit_s)
        data = json.dumps(answer).encode()
        try:
            request.send_response(status)
            for name, value in {**headers, "Content-Type": "application/json"}.items():
                request.send_header(name, value)
            request.send_header("Content-Length", str(len(data)))
            request.end_headers()
            request.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the caller gave up waiting (the stalled submission)

    def answer(self, r: Received) -> tuple[int, Any, dict[str, str]]:
        if self.down:
            self.down -= 1
            return 503, {"error": {"message": "Service Unavailable"}}, {}
        if self.limited:
            self.limited -= 1
            return 429, {"error": {"message": "Too many requests"}}, {"Retry-After": "1"}
        if not self.authentic(r):
            return 401, recorded("unauthorized.json"), {}
        path = r.path.removeprefix(PREFIX)
        if r.method == "POST" and path == "/api/order/validate":
            return self.validate(r.body)
        if r.method == "POST" and path == "/api/order":
            return self.submit(r.body)
        if r.method == "GET" and path == "/api/order":
            wanted = r.query.get("sourceOrderId", [None])[0]
            rows = [
                o for o in self.orders.values() if wanted in (None, o["orderData"]["sourceOrderId"])
            ]
            return 200, {"data": rows, "count": len(rows)}, {}
        parts = path.split("/")
        if r.method == "PUT" and len(parts) == 6 and parts[:3] == ["", "api", "order"]:
            return self.cancel(unquote(parts[3]), unquote(parts[4]))
        return 404, {"error": {"message": f"Cannot {r.method} {r.path}"}}, {}

    def authentic(self, r: Received) -> bool:
        """Recompute the HMAC from the raw request, as Site Flow does."""
        lower = {k.lower(): v for k, v in r.headers.items()}
        auth, date = lower.get("x-hp-hmac-authentication", ""), lower.get("x-hp-hmac-date", "")
        algorithm = lower.get("x-hp-hmac-algorithm", "SHA1").upper()
        key, _, signature = auth.partition(":")
        digest = {"SHA256": hashlib.sha256, "SHA1": hashlib.sha1}.get(algorithm)
        if key != self.key or digest is None:
            return False
        try:
            sent = datetime.strptime(date, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            return False
        if abs((datetime.now(UTC) - sent).total_seconds()) > MAX_SKEW_S:
            return False
        message = f"{r.method} {r.path}{date}".encode()
        expected = hmac.new(self.secret.encode(), message, digest).hexdigest()
        return hmac.compare_digest(expected, signature)

    def problems(self, document: Any) -> list[dict[str, str]]:
        """What Site Flow's structure check refuses (its minimum order requirements)."""
        found: list[dict[str, str]] = []

        def need(value: Any, where: str) -> None:
            if value in (None, "", [], {}):
                found.append({"path": where, "message": "is required"})

        doc = document if isinstance(document, dict) else {}
        need((doc.get("destination") or {}).get("name"), "destination.name")
        data = doc.get("orderData") or {}
        need(data.get("sourceOrderId"), "orderData.sourceOrderId")
        need(data.get("items"), "orderData.items")
        for i, item in enumerate(data.get("items") or []):
            for name in ("sku", "sourceItemId", "components"):
                need(item.get(name), f"orderData.items[{i}].{name}")
            for j, component in enumerate(item.get("components") or []):
                for name in ("code", "path"):
                    need(component.get(name), f"orderData.items[{i}].components[{j}].{name}")
        need(data.get("shipments"), "orderData.shipments")
        for i, shipment in enumerate(data.get("shipments") or []):
            for name in REQUIRED_SHIP_TO:
                need(
                    (shipment.get("shipTo") or {}).get(name),
                    f"orderData.shipments[{i}].shipTo.{name}",
                )
            need(
                (shipment.get("carrier") or {}).get("code"),
                f"orderData.shipments[{i}].carrier.code",
            )
        return found

    def refusal(self, document: Any) -> dict[str, Any] | None:
        problems = self.problems(document)
        if problems:
            return {
                "error": {
                    "name": "ValidationError",
                    "message": "Order is invalid",
                    "validations": problems,
                }
            }
        if self.refuse:
            return recorded("validate-refused.json")
        if document["orderData"]["sourceOrderId"] in self.orders:
            return recorded("duplicate.json")
        return None

    def validate(self, document: Any) -> tuple[int, Any, dict[str, str]]:
        refusal = self.refusal(document)
        return (400, refusal, {}) if refusal else (200, recorded("validate-accepted.json"), {})

    def submit(self, document: Any) -> tuple[int, Any, dict[str, str]]:
        refusal = self.refusal(document)
        if refusal:
            return 400, refusal, {}
        answer = recorded("submit-accepted.json")
        order = answer["order"]
        order["_id"] = f"{next(self.ids):024x}"
        order["destination"]["name"] = document["destination"]["name"]
        order["source"]["name"] = self.account
        order["orderData"] = {**copy.deepcopy(document["orderData"]), "status": "received"}
        self.orders[document["orderData"]["sourceOrderId"]] = order
        return 201, answer, {}

    def cancel(self, account: str, source_order_id: str) -> tuple[int, Any, dict[str, str]]:
        order = self.orders.get(source_order_id)
        if account != self.account or order is None:
            return 404, {"error": {"message": "Order not found"}}, {}
        if order["orderData"]["status"] == "cancelled":
            return 400, {"error": {"message": "Order is already cancelled"}}, {}
        order["orderData"]["status"] = "cancelled"
        return 200, {"success": True, "order": order}, {}

    # -- what a test looks at --
    def calls(self) -> list[tuple[str, str]]:
        return [(r.method, r.path) for r in self.requests]

    def order(self, source_order_id: str) -> dict[str, Any]:
        return self.orders[source_order_id]

    def postback(self, source_order_id: str, status: str, **extra: Any) -> tuple[str, Any]:
        """The postbackAddress of the order and the postback Site Flow's trigger would send."""
        order = self.orders[source_order_id]
        body = {**recorded("postback-shipped.json"), **extra}
        body.update({"_id": order["_id"], "sourceOrderId": source_order_id, "status": status})
        return order["orderData"]["postbackAddress"], body
