"""`siteflow-submit` and `siteflow-cancel`: the handlers, and the postback address of a run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from urllib.parse import quote

from django.conf import settings
from django.core import signing
from django.urls import reverse
from pydantic import BaseModel

from fabflow.connectors import services
from fabflow.connectors.models import ConnectionKind
from fabflow.connectors.siteflow import document
from fabflow.connectors.siteflow.client import (
    Account,
    Answer,
    effect_outcome,
    partner_message,
    trouble,
)
from fabflow.connectors.siteflow.payloads import SiteflowCancelPayload, SiteflowSubmitPayload
from fabflow.flows.handlers.base import (
    Failed,
    Handler,
    HandlerContext,
    Outcome,
    PermanentError,
    Succeeded,
    TransientError,
    Waiting,
)

POSTBACK_SALT = "fabflow.siteflow.postback"
HP_SITEFLOW = ConnectionKind.HP_SITEFLOW
EVENT_KIND = "partner-event"
P = TypeVar("P", bound=BaseModel)


def postback_token(run_id: str) -> str:
    return signing.dumps(run_id, salt=POSTBACK_SALT, compress=True)


def postback_url(run_id: str) -> str:
    path = reverse("api-1:siteflow_postback", kwargs={"token": postback_token(run_id)})
    return settings.BASE_URL + path


def _payload(ctx: HandlerContext, model: type[P]) -> P:
    if not isinstance(ctx.payload, model):
        raise TypeError(f"expected a {model.__name__} payload, got {type(ctx.payload).__name__}")
    return ctx.payload


def account_for(ctx: HandlerContext, name: str, algorithm: str) -> Account | Failed:
    """The space's hp-siteflow connection `name`, ready to sign with."""
    try:
        found = services.connection_for(str(ctx.order["spaceKey"]), name, HP_SITEFLOW)
    except PermanentError as exc:
        return Failed(str(exc))
    credentials = services.decrypted(found) or {}
    if not credentials.get("key") or not credentials.get("secret"):
        return Failed(f"the connection {name!r} lacks its key or secret")
    return Account(found.base_url, credentials["key"], credentials["secret"], algorithm)


def partner_order(body: Any) -> Mapping[str, Any]:
    """The order in a submit answer: `{"order": {...}, "success": true}` or the order itself."""
    if not isinstance(body, Mapping):
        return {}
    order = body.get("order", body)
    return order if isinstance(order, Mapping) else {}


def refused(body: Any) -> bool:
    """A 2xx validation answer that still says no (`"valid": false` or `"success": false`)."""
    return isinstance(body, Mapping) and (
        body.get("valid") is False or body.get("success") is False
    )


def statuses(payload: SiteflowSubmitPayload) -> tuple[set[str], set[str]]:
    return (
        {s.lower() for s in payload.successStatuses},
        {s.lower() for s in payload.failureStatuses},
    )


def ends_task(payload: Mapping[str, Any], status: str) -> bool:
    """Whether a postback with `status` ends a task with this (stored) payload."""
    success, failure = statuses(SiteflowSubmitPayload.model_validate(payload))
    return status.lower() in success | failure


class SiteflowSubmit(Handler):
    key = "siteflow-submit"
    payload_model = SiteflowSubmitPayload
    title = "Send to HP Site Flow"
    waits_for_event = True

    def run(self, ctx: HandlerContext) -> Outcome:
        payload = _payload(ctx, SiteflowSubmitPayload)
        account = account_for(ctx, payload.connection, payload.hmacAlgorithm)
        if isinstance(account, Failed):
            return account
        try:
            return self._submit(ctx, payload, account)
        except (TransientError, PermanentError) as exc:
            return effect_outcome(exc)
        except document.DocumentError as exc:
            return Failed(str(exc))

    def _submit(
        self, ctx: HandlerContext, payload: SiteflowSubmitPayload, account: Account
    ) -> Outcome:
        source_order_id = str(ctx.order["thirdPartyOrderId"])
        if ctx.task.delivery > 1 or ctx.task.attempt > 1:
            # An earlier call may have created the order before its answer was lost: adopt
            # it rather than submit a second one (Site Flow refuses a reused sourceOrderId).
            found = account.call(
                ctx.services, "GET", "/api/order", now=ctx.now, sourceOrderId=source_order_id
            )
            if not found.ok:
                return trouble(found, "the order lookup")
            existing = _listed(found.body, source_order_id)
            if existing:
                return self._waiting(payload, existing, source_order_id, adopted=True)
        doc = document.build(
            ctx.order,
            payload,
            postback_url=postback_url(ctx.task.id),
            component_url=lambda product: _component_url(ctx, payload, product),
        )
        if payload.validateFirst:
            answer = account.call(
                ctx.services, "POST", "/api/order/validate", document=doc, now=ctx.now
            )
            if not answer.ok:
                return trouble(answer, "the validation")
            if refused(answer.body):
                return Failed(f"Site Flow refused the order: {partner_message(answer.body)}")
        answer = account.call(ctx.services, "POST", "/api/order", document=doc, now=ctx.now)
        if not answer.ok:
            return trouble(answer, "the order")
        if refused(answer.body):
            return Failed(f"Site Flow refused the order: {partner_message(answer.body)}")
        order = partner_order(answer.body)
        if not order.get("_id"):
            return Failed(f"Site Flow's answer names no order id: {_excerpt(answer)}")
        return self._waiting(payload, order, source_order_id, adopted=False)

    def _waiting(
        self,
        payload: SiteflowSubmitPayload,
        order: Mapping[str, Any],
        source_order_id: str,
        *,
        adopted: bool,
    ) -> Waiting:
        source = order.get("source")
        result = {
            "siteflowOrderId": str(order["_id"]),
            "sourceOrderId": source_order_id,
            "sourceAccount": str(source.get("name") or "") if isinstance(source, Mapping) else "",
            "destination": payload.destination,
        }
        how = "found already submitted" if adopted else "submitted"
        return Waiting(
            message=f"{how} to Site Flow as {result['siteflowOrderId']}; waiting for postbacks",
            result=result,
        )

    def on_event(self, ctx: HandlerContext, event: Mapping[str, Any]) -> Outcome | None:
        if event.get("kind") != EVENT_KIND:
            return None
        payload = _payload(ctx, SiteflowSubmitPayload)
        success, failure = statuses(payload)
        status = str(event.get("status") or "").lower()
        result = {**dict(event.get("taskResult") or {}), "status": status}
        if status in success:
            return Succeeded(result=result, message=f"Site Flow: {status}")
        if status in failure:
            said = f": {event['message']}" if event.get("message") else ""
            return Failed(f"Site Flow reported the order {status}{said}")
        return None


def _component_url(
    ctx: HandlerContext, payload: SiteflowSubmitPayload, product: Mapping[str, Any]
) -> str | None:
    found = ctx.services.assets(payload.filter, product_id=str(product["id"]))
    return ctx.services.download_url(found[0].id) if found else None


def _listed(body: Any, source_order_id: str) -> Mapping[str, Any] | None:
    """The order with `source_order_id` in an order list answer (`{"data": [...]}`)."""
    rows = body.get("data") if isinstance(body, Mapping) else body
    for row in rows if isinstance(rows, list) else []:
        data = row.get("orderData") if isinstance(row, Mapping) else None
        if isinstance(data, Mapping) and data.get("sourceOrderId") == source_order_id:
            if row.get("_id"):
                return row
    return None


def _excerpt(answer: Answer) -> str:
    return partner_message(answer.body) or str(answer.body)[:200]


class SiteflowCancel(Handler):
    key = "siteflow-cancel"
    payload_model = SiteflowCancelPayload
    title = "Cancel at HP Site Flow"

    def run(self, ctx: HandlerContext) -> Outcome:
        payload = _payload(ctx, SiteflowCancelPayload)
        account = account_for(ctx, payload.connection, payload.hmacAlgorithm)
        if isinstance(account, Failed):
            return account
        source_order_id = str(ctx.order["thirdPartyOrderId"])
        source_account = payload.sourceAccount or _submitted_from(ctx.order)
        if not source_account:
            return Failed("no sourceAccount: give it in the payload or submit with siteflow-submit")
        path = (
            f"/api/order/{quote(source_account, safe='')}/{quote(source_order_id, safe='')}/cancel"
        )
        try:
            answer = account.call(ctx.services, "PUT", path, now=ctx.now)
        except (TransientError, PermanentError) as exc:
            return effect_outcome(exc)
        if not answer.ok:
            return trouble(answer, "the cancellation")
        return Succeeded(
            result={"sourceAccount": source_account, "sourceOrderId": source_order_id},
            message=f"cancelled at Site Flow: {source_account}/{source_order_id}",
        )


def _submitted_from(order: Mapping[str, Any]) -> str:
    """The sourceAccount Site Flow named when this order was last submitted."""
    for task in reversed(order.get("tasks") or []):
        result = task.get("result") or {}
        if task.get("handlerKey") == SiteflowSubmit.key and result.get("sourceAccount"):
            return str(result["sourceAccount"])
    return ""


HANDLERS: list[type[Handler]] = [SiteflowSubmit, SiteflowCancel]
