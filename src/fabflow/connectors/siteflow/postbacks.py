"""The postback address of a `siteflow-submit` task run: Site Flow reports order statuses here."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema, Status
from pydantic import BaseModel, ConfigDict

from fabflow.connectors.siteflow.handlers import (
    EVENT_KIND,
    POSTBACK_SALT,
    SiteflowSubmit,
    ends_task,
)
from fabflow.core.errors import Invalid, NotFound
from fabflow.flows import actions
from fabflow.flows.engine.context import run_id_from

router = Router(tags=["connectors"])


class PostbackIn(BaseModel):
    """A Site Flow postback: its own fields, `status` at the top or in `orderData`."""

    model_config = ConfigDict(extra="allow")
    status: str | None = None
    sourceOrderId: str | None = None
    orderData: dict[str, Any] | None = None


class PostbackOut(Schema):
    accepted: bool
    recorded: bool  # false for a postback received before (nothing new recorded)


def _event(postback: PostbackIn) -> dict[str, str]:
    data = postback.orderData or {}
    extra = postback.model_extra or {}
    order = extra.get("order")
    order = order if isinstance(order, dict) else {}
    status = postback.status or data.get("status")
    if not isinstance(status, str) or not status.strip():
        raise Invalid("a postback needs a status", field=("body", "status"))
    found = {
        "status": status.strip().lower(),
        "partnerOrderId": extra.get("_id") or extra.get("orderId") or order.get("_id"),
        "sourceOrderId": postback.sourceOrderId or data.get("sourceOrderId"),
        "message": extra.get("message"),
    }
    return {key: str(value)[:500] for key, value in found.items() if value}


@router.post(
    "/connectors/siteflow/postback/{token}",
    auth=None,
    response={202: PostbackOut},
    operation_id="siteflow_postback",
)
def siteflow_postback(request: HttpRequest, token: str, payload: PostbackIn) -> Any:
    """A Site Flow postback for a waiting `siteflow-submit` task (the token is the auth).
    Answers 404 once the task has ended, or for an unknown address."""
    run_id = run_id_from(token, POSTBACK_SALT)
    if run_id is None:
        raise NotFound("Unknown postback address.")
    event = _event(payload)
    partner_id = event.get("partnerOrderId") or event.get("sourceOrderId") or ""
    recorded = actions.accept_partner_event(
        run_id=run_id,
        handler_key=SiteflowSubmit.key,
        event={"kind": EVENT_KIND, **event},
        event_key=f"{partner_id}:{event['status']}",
        ends=lambda task_payload: ends_task(task_payload, event["status"]),
        actor="connector:hp-siteflow",
    )
    return Status(202, {"accepted": True, "recorded": recorded})
