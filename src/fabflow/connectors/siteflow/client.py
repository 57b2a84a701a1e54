"""Talking to Site Flow: HMAC-signed requests and readable reasons from its answers."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from fabflow.core import outbound
from fabflow.flows.engine.effects import policy_http
from fabflow.flows.handlers.base import (
    Failed,
    Outcome,
    RetryLater,
    TransientError,
)

DATE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
ALGORITHMS = {"SHA256": hashlib.sha256, "SHA1": hashlib.sha1}


def sign(
    method: str, path: str, secret: str, key: str, date: str, algorithm: str = "SHA256"
) -> str:
    """The `x-hp-hmac-authentication` value: `<key>:<hex HMAC of "<METHOD> <path><date>">`,
    `path` being the whole path of the URL (a base URL's own prefix included, no query)."""
    message = f"{method.upper()} {path}{date}".encode()
    digest = hmac.new(secret.encode(), message, ALGORITHMS[algorithm]).hexdigest()
    return f"{key}:{digest}"


def signed_headers(
    method: str, url: str, *, key: str, secret: str, algorithm: str, now: datetime
) -> dict[str, str]:
    date = now.astimezone(UTC).strftime(DATE_FORMAT)
    path = urlsplit(url).path or "/"
    return {
        "x-hp-hmac-authentication": sign(method, path, secret, key, date, algorithm),
        "x-hp-hmac-date": date,
        "x-hp-hmac-algorithm": algorithm,
        "Accept": "application/json",
    }


class Http(Protocol):
    """What sends a request: a handler's `ctx.services`, or `Outbound` outside a task."""

    def http(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> Any: ...


class Outbound:
    """Requests under the outbound policy outside a task run (the connection test), with the
    errors a handler's `services.http` raises."""

    def http(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> outbound.OutboundResponse:
        return policy_http(method, url, headers=headers, body=body)


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any  # the parsed JSON, or the text when it is not JSON
    headers: Mapping[str, str]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True)
class Account:
    """A connection's base URL and credentials, ready to sign with."""

    base_url: str
    key: str
    secret: str
    algorithm: str = "SHA256"

    def url(self, path: str, **query: str) -> str:
        url = self.base_url.rstrip("/") + path
        if query:
            url += "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())
        return url

    def call(
        self,
        services: Http,
        method: str,
        path: str,
        *,
        document: Any = None,
        now: datetime,
        **query: str,
    ) -> Answer:
        """One signed request; TransientError/PermanentError when no answer came back."""
        url = self.url(path, **query)
        headers = signed_headers(
            method, url, key=self.key, secret=self.secret, algorithm=self.algorithm, now=now
        )
        body = None
        if document is not None:
            body = json.dumps(document).encode()
            headers["Content-Type"] = "application/json"
        response = services.http(method, url, headers=headers, body=body)
        text = bytes(response.body or b"").decode("utf-8", "replace")
        try:
            parsed: Any = json.loads(text) if text.strip() else None
        except ValueError:
            parsed = text
        return Answer(int(response.status), parsed, response.headers)


def partner_message(body: Any) -> str:
    """Site Flow's words from an error body: `{"error": {"message", "validations": [...]}}`,
    `{"error": "..."}`, `{"message": "..."}`, `{"errors": [...]}` or plain text."""
    if isinstance(body, str):
        return " ".join(body.split())[:300]
    if not isinstance(body, Mapping):
        return ""
    error = body.get("error", body)
    if isinstance(error, str):
        return error[:300]
    if not isinstance(error, Mapping):
        return ""
    parts = [str(error["message"])] if error.get("message") else []
    for item in error.get("validations") or error.get("errors") or body.get("errors") or []:
        parts.append(_validation(item))
    return "; ".join(p for p in parts if p)[:1000]


def _validation(item: Any) -> str:
    if not isinstance(item, Mapping):
        return str(item)
    where = item.get("path") or item.get("field") or item.get("property") or ""
    text = item.get("message") or item.get("msg") or json.dumps(item)
    return f"{where}: {text}" if where else str(text)


def trouble(answer: Answer, what: str) -> Outcome:
    """A non-2xx answer as an outcome: retry 408/429/5xx (with Retry-After), fail on others."""
    message = partner_message(answer.body)
    reason = f"Site Flow answered {answer.status} to {what}" + (f": {message}" if message else "")
    if outbound.is_transient_status(answer.status):
        return RetryLater(reason, outbound.retry_after_seconds(answer.headers))
    return Failed(reason)


def effect_outcome(exc: Exception) -> Outcome:
    if isinstance(exc, TransientError):
        return RetryLater(f"Site Flow unreachable: {exc}", exc.retry_after_s)
    return Failed(f"Site Flow unreachable: {exc}")
