"""Flows, tasks, feedback and flow actions endpoints."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.http import HttpRequest
from ninja import Body, Query, Router, Status
from ninja.decorators import decorate_view

from fabflow.accounts import selectors as account_selectors
from fabflow.accounts.auth import Principal, principal
from fabflow.accounts.models import Space
from fabflow.core.jsonbody import body_rules
from fabflow.core.pagination import MAX_LIMIT
from fabflow.core.problems import ApiError, invalid
from fabflow.flows import actions, task_selectors
from fabflow.flows import selectors as flow_selectors
from fabflow.flows import services as flow_services
from fabflow.flows.definition import (
    MAX_DEFINITION_BYTES,
    definition_warnings,
    flow_json_schema,
    validate_definition,
)
from fabflow.flows.engine.context import FEEDBACK_SALT, run_id_from
from fabflow.flows.handlers import registry
from fabflow.flows.models import TaskRun
from fabflow.flows.schemas import (
    AcceptedOut,
    CompleteIn,
    FeedbackIn,
    FlowIn,
    FlowOut,
    FlowPage,
    FlowUpdateIn,
    ReasonIn,
    TaskPage,
    TaskState,
    ValidateIn,
    ValidationOut,
)
from fabflow.flows.serializers import flow_json, task_json
from fabflow.orders import selectors
from fabflow.orders.schemas import StartIn

router = Router(tags=["flows"])
# A definition body is refused before it is parsed when it could not hold a definition within
# the cap (room for indentation); duplicate keys are errors, as in the web editor.
MAX_FLOW_BODY_BYTES = 2 * MAX_DEFINITION_BYTES
definition_body = decorate_view(body_rules(max_bytes=MAX_FLOW_BODY_BYTES, unique_keys=True))
# The contract's `{"flowKey": ...}`; no body (or an empty form) starts the order's pinned flow.
_OPTIONAL_BODY: Any = Body(None)
optional_body = decorate_view(body_rules(optional=True))


def _space(who: Principal, key: str | None) -> Space:
    if who.space is not None:
        if key and key != who.space.key:
            raise ApiError(403, "This secret key belongs to another space.")
        return who.space
    space = account_selectors.space_by_key(organization=who.organization, key=key or "")
    if space is None:
        raise invalid(("body", "spaceKey"), "unknown space")
    return space


@router.get("/flows", response=FlowPage, operation_id="list_flows")
def list_flows(request: HttpRequest) -> dict[str, Any]:
    who = principal(request)
    flows = list(flow_selectors.flows_for(who).order_by("space__key", "name")[:MAX_LIMIT])
    current = flow_selectors.current_versions(flows)
    return {
        "items": [flow_json(f, current.get((f.id, f.current_version))) for f in flows],
        "next": None,
    }


@router.post("/flows", response={201: FlowOut}, operation_id="create_flow")
@definition_body
def create_flow(request: HttpRequest, payload: FlowIn) -> Any:
    who = principal(request)
    raw = [stage.model_dump(mode="json") for stage in payload.definition]
    flow = flow_services.create_flow(
        space=_space(who, payload.spaceKey), name=payload.name, definition=raw, actor=who.actor
    )
    return Status(201, flow_json(flow))


@router.get("/flows/schema", operation_id="flow_json_schema")
def flow_schema(request: HttpRequest) -> dict[str, Any]:
    """The JSON Schema of a flow definition, with each installed handler's payload schema."""
    return flow_json_schema(registry.payload_models())


@router.post(
    "/flows/validate",
    response={200: ValidationOut, 422: ValidationOut},
    operation_id="validate_flow",
)
@definition_body
def validate_flow(request: HttpRequest, payload: ValidateIn) -> Any:
    """Every error of a definition, each with its JSON path (`loc`), and its warnings."""
    errors = validate_definition(payload.definition, registry.payload_models())
    warnings = definition_warnings(payload.definition, registry.payload_models())
    found = {
        "valid": not errors,
        "errors": [{"loc": ["body", "definition", *e.loc], "msg": e.msg} for e in errors],
        "warnings": [{"loc": ["body", "definition", *w.loc], "msg": w.msg} for w in warnings],
    }
    return Status(422, found) if errors else found


@router.get("/flows/{flow_id}", response=FlowOut, operation_id="get_flow")
def get_flow(request: HttpRequest, flow_id: UUID) -> dict[str, Any]:
    return flow_json(selectors.get_or_404(flow_selectors.flows_for(principal(request)), flow_id))


@router.put("/flows/{flow_id}", response=FlowOut, operation_id="update_flow")
@definition_body
def update_flow(request: HttpRequest, flow_id: UUID, payload: FlowUpdateIn) -> dict[str, Any]:
    """Save a new version; name and space never change, running orders keep their version."""
    who = principal(request)
    flow = selectors.get_or_404(flow_selectors.flows_for(who), flow_id)
    raw = [stage.model_dump(mode="json") for stage in payload.definition]
    # save_version refreshes the flow's current version and time of edit.
    return flow_json(flow, flow_services.save_version(flow=flow, definition=raw, actor=who.actor))


@router.get("/tasks", response=TaskPage, operation_id="list_tasks")
def list_tasks(
    request: HttpRequest,
    orderId: UUID | None = None,
    state: TaskState | None = None,
    limit: int = Query(50, ge=1, le=MAX_LIMIT),  # type: ignore[type-arg]
) -> dict[str, Any]:
    rows = task_selectors.task_list(principal(request), order_id=orderId, state=state, limit=limit)
    return {"items": [task_json(t) for t in rows], "next": None}


def _task(request: HttpRequest, task_id: UUID) -> tuple[str, TaskRun]:
    """The caller's actor name and the task run, if theirs to see (404 otherwise)."""
    who = principal(request)
    return who.actor, selectors.get_or_404(task_selectors.tasks_for(who), task_id)


@router.post("/tasks/{task_id}/complete", response={202: AcceptedOut}, operation_id="complete_task")
def complete_task(request: HttpRequest, task_id: UUID, payload: CompleteIn) -> Any:
    """Complete a waiting manual task with one of its outcomes."""
    actor, run = _task(request, task_id)
    actions.complete_task(run=run, outcome=payload.outcome, comment=payload.comment, actor=actor)
    return Status(202, {"accepted": True, "taskId": run.id})


@router.post("/tasks/{task_id}/confirm", response={202: AcceptedOut}, operation_id="confirm_task")
def confirm_task(request: HttpRequest, task_id: UUID, payload: ReasonIn) -> Any:
    """Confirm a waiting `asset-email` confirmation on the customer's behalf."""
    actor, run = _task(request, task_id)
    actions.confirm_task(run=run, actor=actor, reason=payload.reason)
    return Status(202, {"accepted": True, "taskId": run.id})


@router.post("/tasks/{task_id}/skip", response={202: AcceptedOut}, operation_id="skip_task")
def skip_task(request: HttpRequest, task_id: UUID, payload: ReasonIn) -> Any:
    """Skip a waiting `asset-email` confirmation: the task succeeds with outcome `skipped`."""
    actor, run = _task(request, task_id)
    actions.confirm_task(run=run, actor=actor, reason=payload.reason, skip=True)
    return Status(202, {"accepted": True, "taskId": run.id})


@router.post("/tasks/{task_id}/retry", response={202: AcceptedOut}, operation_id="retry_task")
def retry_task(request: HttpRequest, task_id: UUID) -> Any:
    """Run a failed task again (staff action); a failed flow resumes."""
    actor, run = _task(request, task_id)
    actions.retry_task(run=run, actor=actor)
    return Status(202, {"accepted": True, "taskId": run.id})


@router.post(
    "/feedback/{token}", auth=None, response={202: AcceptedOut}, operation_id="connector_feedback"
)
def connector_feedback(request: HttpRequest, token: str, payload: FeedbackIn) -> Any:
    """Connector feedback for a waiting `consume-rest-api` task (the token is the auth)."""
    run_id = run_id_from(token, FEEDBACK_SALT)
    if run_id is None:
        raise ApiError(404, "Unknown feedback link.")
    feedback = payload.model_dump(mode="json")
    actions.accept_feedback(run_id=run_id, feedback=feedback, actor="connector")
    return Status(202, {"accepted": True, "taskId": run_id})


@router.post(
    "/orders/{order_id}/start",
    response={202: AcceptedOut},
    operation_id="start_order_flow",
    tags=["orders"],
)
@optional_body
def start_order(
    request: HttpRequest,
    order_id: UUID,
    flowKey: str | None = Query(None, max_length=200),  # type: ignore[type-arg]
    payload: StartIn | None = _OPTIONAL_BODY,
) -> Any:
    """Start the flow of an order still in Created: its pinned flow, or the flow named by
    `flowKey` in the body (`{"flowKey": "..."}`) or the query string."""
    who = principal(request)
    order = selectors.get_or_404(selectors.orders_for(who), order_id)
    body_key = payload.flowKey if payload else None
    if flowKey and body_key and flowKey != body_key:
        raise invalid(("body", "flowKey"), "differs from the query's flowKey; give one of them")
    flow_run = actions.start_order_flow(order=order, flow_key=body_key or flowKey, actor=who.actor)
    return Status(202, {"accepted": True, "taskId": flow_run.id})


@router.post(
    "/orders/{order_id}/restart",
    response={202: AcceptedOut},
    operation_id="restart_order_flow",
    tags=["orders"],
)
def restart_order(request: HttpRequest, order_id: UUID) -> Any:
    """Restart the order's flow from its first stage (same flow version; staff action)."""
    who = principal(request)
    order = selectors.get_or_404(selectors.orders_for(who), order_id)
    inbox = actions.restart_flow(order=order, actor=who.actor)
    return Status(202, {"accepted": True, "taskId": inbox.flow_run_id})
