"""Calling a partner's HTTP API from a handler: parsed answers, readable refusals, retries.

Every partner connector sends its requests through `ctx.services.http` (the outbound policy)
and treats the answers alike: a 2xx answer's JSON is returned; 408, 429 and 5xx answers, and
no answer at all, raise `TransientError` (with the partner's `Retry-After`), so the engine
retries with backoff; any other answer is the partner refusing what was sent and raises
`PermanentError` with the HTTP status and the partner's own words.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from urllib3 import encode_multipart_formdata

from fabflow.connectors.models import Connection
from fabflow.core import outbound
from fabflow.flows.engine.effects import policy_http
from fabflow.flows.handlers.base import (
    AssetRef,
    Failed,
    HandlerContext,
    Outcome,
    PermanentError,
    RetryLater,
    Services,
    Succeeded,
    TransientError,
)

MESSAGE_KEYS = ("detail", "message", "Message", "error", "errorMessage", "title", "reason")
MAX_MESSAGE = 500


class Session:
    """One call of a multi-step connector: its context and the progress of earlier calls."""

    def __init__(self, ctx: HandlerContext) -> None:
        self.ctx = ctx
        self.progress: dict[str, Any] = dict(ctx.extra.get("progress") or {})

    def save(self, **data: Any) -> None:
        """Keep partner ids and steps done for the next call (committed at once)."""
        self.progress = self.ctx.services.save_progress(data)

    def advance(self) -> Outcome:
        raise NotImplementedError


def run_session(ctx: HandlerContext, start: Callable[[], Session]) -> Outcome:
    """Advance a session and turn the partner's trouble into outcomes: transient trouble is
    retried, counting the retry budget from when the trouble began (a poll that has run for
    days still gets its retries), a refusal fails the task with the partner's words."""
    session = None
    try:
        session = start()
        outcome = session.advance()
    except TransientError as exc:
        if session is None:
            return RetryLater(str(exc), exc.retry_after_s)
        if not session.progress.get("troubleSince"):
            session.save(troubleSince=ctx.now.isoformat())
        since = datetime.fromisoformat(session.progress["troubleSince"])
        return RetryLater(str(exc), exc.retry_after_s, since=since)
    except PermanentError as exc:
        return Failed(str(exc))
    if session.progress.get("troubleSince") and not isinstance(outcome, Succeeded | Failed):
        session.save(troubleSince=None)
    return outcome


def credential(found: Connection, key: str) -> str:
    """A credential of a connection (connection_for has checked they can be read)."""
    value = found.credentials.get(key) if isinstance(found.credentials, dict) else None
    if not isinstance(value, str) or not value:
        raise PermanentError(f"connection {found.name!r} has no {key!r} credential")
    return value


def endpoint(base_url: str, path: str) -> str:
    """`path` under the connection's base URL (which may carry a path of its own)."""
    return base_url.rstrip("/") + "/" + path.lstrip("/")


def call(
    services: Services,
    partner: str,
    method: str,
    url: str,
    *,
    what: str,
    headers: Mapping[str, str],
    document: Any = None,
    multipart: Mapping[str, Any] | None = None,
) -> Any:
    """Send one request (a JSON `document` or `multipart` fields) and return the JSON body of
    the 2xx answer ({} when empty); `what` names the request in reasons (`POST baskets/`)."""
    sent = {"Accept": "application/json", **headers}
    body = None
    if document is not None:
        body = json.dumps(document).encode()
        sent["Content-Type"] = "application/json"
    elif multipart is not None:
        body, sent["Content-Type"] = encode_multipart_formdata(dict(multipart))
    response = services.http(method, url, headers=sent, body=body)
    parsed = _parse(response.body)
    if 200 <= response.status < 300:
        if parsed is None or isinstance(parsed, str):
            # A created thing we cannot read the id of: a retry could create it twice.
            raise PermanentError(f"{partner} answered {what} with a body that is not JSON")
        return parsed
    reason = f"{partner} answered {response.status} to {what}"
    said = partner_message(parsed)
    reason = f"{reason}: {said}" if said else reason
    if outbound.is_transient_status(response.status):
        raise TransientError(reason, outbound.retry_after_seconds(response.headers))
    raise PermanentError(reason)


def probe(partner: str, url: str, headers: Mapping[str, str]) -> tuple[bool, int | None, str]:
    """A connection test's harmless authenticated GET, outside any task: whether it worked,
    the partner's HTTP status (None when no answer came) and what it said."""
    sent = {"Accept": "application/json", **headers}
    try:
        response = policy_http("GET", url, headers=sent)
    except (TransientError, PermanentError) as exc:
        return False, None, f"{partner} did not answer: {exc}"
    said = partner_message(_parse(response.body))
    if 200 <= response.status < 300:
        return True, response.status, f"{partner} answered {response.status}: the credentials work"
    return (
        False,
        response.status,
        f"{partner} answered {response.status}" + (f": {said}" if said else ""),
    )


def _parse(raw: bytes | None) -> Any:
    text = bytes(raw or b"").decode("utf-8", "replace")
    if not text.strip():
        return {}
    try:
        return json.loads(text)
    except ValueError:
        return text


def partner_message(body: Any) -> str:
    """The partner's words in an error body: Django REST framework's `{"detail": ...}` and
    `{"field": ["..."]}`, `{"error"|"message"|"Message": ...}`, `{"errors": [...]}`, or text
    (an HTML error page is cut to its first words)."""
    words = "; ".join(_messages(body, ""))
    return " ".join(words.split())[:MAX_MESSAGE]


def _messages(value: Any, field: str) -> Iterable[str]:
    if isinstance(value, Mapping):
        named = [k for k in MESSAGE_KEYS if isinstance(value.get(k), str) and value[k]]
        if named:
            yield _label(field, value[named[0]])
            return
        for key, item in value.items():
            inner = "" if key in ("errors", "non_field_errors", "error") else str(key)
            yield from _messages(item, ".".join(p for p in (field, inner) if p))
    elif isinstance(value, list):
        for item in value:
            yield from _messages(item, field)
    elif isinstance(value, str) and value.strip():
        yield _label(field, value if not value.lstrip().startswith("<") else _text_of(value))
    elif value is not None and not isinstance(value, str):
        yield _label(field, str(value))


def _label(field: str, text: str) -> str:
    return f"{field}: {text}" if field else text


def _text_of(html: str) -> str:
    """A readable bit of an HTML error page: its text without tags."""
    return re.sub(r"<[^>]*>", " ", html)[:200]


# The order's side ------------------------------------------------------------------------------


def product_of(order: Mapping[str, Any], asset: AssetRef) -> Mapping[str, Any] | None:
    """The product of the order an asset belongs to (directly or through its part); None for
    an asset of the order itself."""
    for product in order.get("products") or []:
        if asset.product_id is not None and str(product["id"]) == asset.product_id:
            return product
        if asset.part_id is not None and any(
            str(part["id"]) == asset.part_id for part in product.get("parts") or []
        ):
            return product
    return None


def deadline(order: Mapping[str, Any]) -> datetime | None:
    """The order's deadline (the snapshot holds a datetime; a JSON copy a string)."""
    value = order.get("deadline")
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value)
    return value if isinstance(value, datetime) else None
