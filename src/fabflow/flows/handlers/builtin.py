"""The built-in handlers: e-mail, asset links, connector calls, manual tasks and timers."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from django.core.serializers.json import DjangoJSONEncoder
from pydantic import BaseModel

from fabflow.core import outbound
from fabflow.flows.handlers.base import (
    Failed,
    Handler,
    HandlerContext,
    Outcome,
    PermanentError,
    RetryLater,
    Services,
    Succeeded,
    TransientError,
    Waiting,
)
from fabflow.flows.handlers.payloads import (
    AssetEmailPayload,
    ConsumeRestApiPayload,
    ManualTaskPayload,
    SendEmailPayload,
    WaitPayload,
)
from fabflow.orders.kinds import EventKind

P = TypeVar("P", bound=BaseModel)
T = TypeVar("T")


def _payload(ctx: HandlerContext, model: type[P]) -> P:
    if not isinstance(ctx.payload, model):
        raise TypeError(f"expected a {model.__name__} payload, got {type(ctx.payload).__name__}")
    return ctx.payload


def _effect(call: Callable[[], T]) -> T | Outcome:
    """What a side effect returned, or the outcome of its error: retry a transient one."""
    try:
        return call()
    except TransientError as exc:
        return RetryLater(str(exc), exc.retry_after_s)
    except PermanentError as exc:
        return Failed(str(exc))


# E-mail ---------------------------------------------------------------------------------------


def _addresses(services: Services, templates: Iterable[str]) -> list[str]:
    rendered = (services.render(text, header=True).strip() for text in templates)
    return [address for address in rendered if address]


def _send(
    services: Services, *, to: list[str], cc: list[str], bcc: list[str], subject: str, body: str
) -> Outcome | list[str]:
    """Render and send one e-mail; the recipients it went to, or the outcome that stops it."""
    try:
        recipients = _addresses(services, to)
        mail: dict[str, Any] = {
            "cc": _addresses(services, cc),
            "bcc": _addresses(services, bcc),
            "subject": services.render(subject, header=True),
            "html": services.render(body, html=True),
        }
    except ValueError as exc:  # CR/LF in a header field
        return Failed(str(exc))
    if not recipients:
        return Failed("no recipient")
    stopped = _effect(lambda: services.send_mail(to=recipients, **mail))
    return recipients if stopped is None else stopped


class SendEmail(Handler):
    key = "send-email"
    payload_model = SendEmailPayload
    title = "Send an e-mail"

    def run(self, ctx: HandlerContext) -> Outcome:
        payload = _payload(ctx, SendEmailPayload)
        sent = _send(
            ctx.services,
            to=payload.recipient or payload.recipients or [],
            cc=payload.cc,
            bcc=payload.bcc,
            subject=payload.subject,
            body=payload.body,
        )
        return Succeeded(result={"recipients": sent}) if isinstance(sent, list) else sent


# URL assets still being fetched are looked at again after 1 s, then doubling up to 30 s.
ASSET_POLL_FIRST_S = 1.0
ASSET_POLL_MAX_S = 30.0
CONFIRM_BUTTON = (
    '<p style="margin:24px 0"><a href="{confirmationUrl}" style="display:inline-block;'
    "padding:10px 20px;background:#2563eb;color:#ffffff;border-radius:6px;"
    'text-decoration:none">Confirm your order</a></p>'
)


def _unfetched(ctx: HandlerContext, pattern: str) -> Outcome | None:
    """Failed, or Waiting, while a matching URL asset is not fetched; None once all are."""
    pending, failed = ctx.services.unfetched_assets(pattern)
    if failed:
        return Failed("; ".join(f"asset {n} could not be fetched: {r}" for n, r in failed.items()))
    if not pending:
        return None
    names = ", ".join(pending)
    if ctx.timeout_at is not None and ctx.now >= ctx.timeout_at:
        return Failed(f"assets not fetched within the task's timeout: {names}")
    delay = min(ASSET_POLL_FIRST_S * 2 ** min(max(ctx.task.delivery - 1, 0), 10), ASSET_POLL_MAX_S)
    until = ctx.now + timedelta(seconds=delay)
    if ctx.timeout_at is not None:
        until = min(until, ctx.timeout_at)
    return Waiting(until=until, message=f"waiting for assets to be fetched: {names}")


class AssetEmail(Handler):
    key = "asset-email"
    payload_model = AssetEmailPayload
    title = "E-mail download links of assets"
    waits_for_event = True

    def run(self, ctx: HandlerContext) -> Outcome:
        payload = _payload(ctx, AssetEmailPayload)
        not_ready = _unfetched(ctx, payload.filter)
        if not_ready is not None:
            return not_ready
        ids = ctx.services.asset_overview(payload.filter)
        sent = _send(
            ctx.services,
            to=payload.recipients,
            cc=[],
            bcc=[],
            subject=payload.subject,
            body=payload.body + (CONFIRM_BUTTON if payload.confirmation_button else ""),
        )
        if not isinstance(sent, list):
            return sent
        if payload.needConfirmation:
            return Waiting(message="waiting for confirmation")
        return Succeeded(result={"assets": ids})

    def on_event(self, ctx: HandlerContext, event: Mapping[str, Any]) -> Outcome | None:
        if event.get("kind") == "confirm" and event.get("outcome") == "skipped":
            return Succeeded(result={"outcome": "skipped", "reason": event.get("reason", "")})
        if event.get("kind") == "confirm":
            return Succeeded(result={"confirmed": True})
        return None


# Connector ------------------------------------------------------------------------------------


class _JsonEncoder(DjangoJSONEncoder):
    """Dates, decimals and UUIDs as the API writes them; anything else as its text."""

    def default(self, o: Any) -> Any:
        try:
            return super().default(o)
        except TypeError:
            return str(o)


def _connector_message(ctx: HandlerContext) -> bytes:
    message = {
        "event": EventKind.TASK_STARTED,
        "order": dict(ctx.order),
        "task": {
            "id": ctx.task.id,
            "key": ctx.task.key,
            "handlerKey": ctx.task.handler_key,
            "payload": ctx.payload.model_dump(mode="json"),
            "attempt": ctx.task.attempt,
        },
        "feedbackUrl": ctx.feedback_url,
        "updateUrl": ctx.order.get("updateUrl"),
    }
    return json.dumps(message, cls=_JsonEncoder).encode()


def _connector_answer(payload: ConsumeRestApiPayload, response: Any) -> Outcome:
    status = int(response.status)
    if 200 <= status < 300:
        if payload.sendsFeedback:
            return Waiting(message="waiting for connector feedback")
        return Succeeded(result={"status": status})
    if outbound.is_transient_status(status):
        retry_after = outbound.retry_after_seconds(response.headers)
        return RetryLater(f"connector answered {status}", retry_after_s=retry_after)
    if 300 <= status < 400:
        location = response.headers.get("Location") or "an unknown location"
        return Failed(f"redirect to {location} not followed")
    return Failed(f"connector answered {status}{_partner_message(response)}")


def _partner_message(response: Any) -> str:
    """The start of the connector's answer, so the reason names what the partner refused."""
    body = getattr(response, "body", b"") or b""
    text = " ".join(body[:2000].decode("utf-8", "replace").split())[:300]
    return f": {text}" if text else ""


class ConsumeRestApi(Handler):
    key = "consume-rest-api"
    payload_model = ConsumeRestApiPayload
    title = "Call a connector"
    waits_for_event = True

    def run(self, ctx: HandlerContext) -> Outcome:
        payload = _payload(ctx, ConsumeRestApiPayload)
        services = ctx.services
        try:
            url = services.render(payload.uri, header=True)
            extra = {name: services.render(v, header=True) for name, v in payload.headers.items()}
        except ValueError as exc:
            return Failed(str(exc))
        body = _connector_message(ctx)
        headers = {
            **extra,
            "Content-Type": "application/json",
            **services.sign_webhook(ctx.task.idempotency_key, body),
        }
        response = _effect(lambda: services.http(payload.method, url, headers=headers, body=body))
        if isinstance(response, Outcome):
            return response
        return _connector_answer(payload, response)

    def on_event(self, ctx: HandlerContext, event: Mapping[str, Any]) -> Outcome | None:
        if event.get("kind") != "feedback":
            return None
        status = event.get("status")
        if status == "success":
            return Succeeded(
                result=dict(event.get("data") or {}), message=event.get("message") or ""
            )
        if status == "failure":
            return Failed(event.get("message") or "connector reported failure")
        return None  # progress: keep waiting


# People and time ------------------------------------------------------------------------------


class ManualTask(Handler):
    key = "manual-task"
    payload_model = ManualTaskPayload
    title = "Manual task"
    waits_for_event = True
    in_transaction = True

    def run(self, ctx: HandlerContext) -> Outcome:
        payload = _payload(ctx, ManualTaskPayload)
        return Waiting(message=ctx.services.render(payload.title))

    def check_outcome(self, payload: ManualTaskPayload, outcome: str) -> str | None:
        """Why `outcome` cannot complete a task with this payload, or None if it can."""
        if outcome in payload.outcomes:
            return None
        return f"unknown outcome {outcome!r}; expected one of: {', '.join(payload.outcomes)}"

    def on_event(self, ctx: HandlerContext, event: Mapping[str, Any]) -> Outcome | None:
        payload = _payload(ctx, ManualTaskPayload)
        outcome = event.get("outcome")
        if event.get("kind") != "complete" or outcome not in payload.outcomes:
            return None
        comment = event.get("comment") or ""
        if outcome in payload.failureOutcomes:
            return Failed(f"outcome {outcome}: {comment}" if comment else f"outcome {outcome}")
        return Succeeded(result={"outcome": outcome, "comment": comment})


def _instant(value: datetime | str | None) -> datetime | None:
    if value is None or value == "":
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Wait(Handler):
    key = "wait"
    payload_model = WaitPayload
    title = "Wait"
    in_transaction = True

    def run(self, ctx: HandlerContext) -> Outcome:
        payload = _payload(ctx, WaitPayload)
        if payload.durationMs is not None:
            started = _instant(ctx.extra["startedAt"]) or ctx.now
            until = started + timedelta(milliseconds=payload.durationMs)
        else:
            deadline = _instant(ctx.order.get("deadline"))
            if deadline is None:
                return Failed("the order has no deadline")
            until = deadline + timedelta(milliseconds=payload.offsetMs or 0)
        if ctx.now >= until:
            return Succeeded()
        return Waiting(until=until)


HANDLERS: list[type[Handler]] = [SendEmail, AssetEmail, ConsumeRestApi, ManualTask, Wait]
