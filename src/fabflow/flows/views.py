"""Web pages of flows: the list, the create dialog, the editor with its live graph, and the
confirmation page that customers of `asset-email` tasks see."""

from __future__ import annotations

import json
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.views.decorators.http import require_http_methods, require_POST

from fabflow.accounts import selectors as account_selectors
from fabflow.accounts.web import member_required, principal, user
from fabflow.core.errors import DomainError, Invalid
from fabflow.flows import actions, selectors, task_selectors
from fabflow.flows import services as flow_services
from fabflow.flows.definition import (
    definition_warnings,
    parse_definition_json,
    validate_definition,
)
from fabflow.flows.engine.context import CONFIRM_SALT, run_id_from
from fabflow.flows.graph import flowchart, render_graph, summary
from fabflow.flows.handlers import registry
from fabflow.flows.models import TaskRun
from fabflow.flows.serializers import is_retrying, task_json
from fabflow.orders.models import Order
from fabflow.orders.selectors import get_or_404, orders_for


@require_http_methods(["GET", "POST"])
def confirm_task(request: HttpRequest, token: str) -> HttpResponse:
    """The single-use confirmation link of an `asset-email` task.

    GET only shows the page (mail scanners follow links); the POST of its button confirms.
    """
    run_id = run_id_from(token, CONFIRM_SALT, max_age=settings.FABFLOW_CONFIRMATION_MAX_AGE)
    run = task_selectors.confirmation_task(run_id)
    if run is None or run.handler_key != "asset-email":
        return render(request, "flows/confirm.html", {"state": "invalid"}, status=404)
    state = "ask" if run.state == TaskRun.State.WAITING else "done"
    if request.method == "POST" and state == "ask":
        try:
            actions.confirm_task(run=run, actor="customer")
            state = "confirmed"
        except DomainError:
            state = "done"
    status = 409 if request.method == "POST" and state == "done" else 200
    return render(
        request, "flows/confirm.html", {"state": state, "order": run.order}, status=status
    )


@member_required
def flows(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _create(request)
    who = principal(request)
    context = {
        "flows": selectors.flows_for(who).order_by("space__key", "name"),
        "spaces": account_selectors.organization_spaces(who.organization),
        "title": "Order flows",
    }
    return render(request, "flows/list.html", context)


def _create(request: HttpRequest) -> HttpResponse:
    who = principal(request)
    name = request.POST.get("name", "").strip()
    space = account_selectors.space_by_key(
        organization=who.organization, key=request.POST.get("space", "")
    )
    if len(name) < 5 or len(name) > 200 or space is None:
        messages.error(request, "A flow needs a name of at least 5 characters and a space.")
        return HttpResponseRedirect("/flows")
    starter = [
        {
            "key": "start",
            "name": "Start",
            "taskDefinitions": [
                {
                    "key": "check",
                    "handlerKey": "manual-task",
                    "payload": {"title": "Check the order"},
                }
            ],
        }
    ]
    try:
        flow = flow_services.create_flow(
            space=space, name=name, definition=starter, actor=who.actor
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return HttpResponseRedirect("/flows")
    return HttpResponseRedirect(f"/flows/{flow.id}")


@member_required
def flow_editor(request: HttpRequest, flow_id: UUID) -> HttpResponse:
    flow = get_or_404(selectors.flows_for(principal(request)), flow_id)
    version = selectors.current_version(flow)
    text = json.dumps(version.definition, indent=2)
    raw: object = version.definition
    errors: list[dict[str, object]] = []
    if request.method == "POST":
        text = request.POST.get("definition", "")
        raw, errors = _errors(text)
        if not errors:
            saved = flow_services.save_version(
                flow=flow, definition=raw, actor=principal(request).actor
            )
            messages.success(request, f"Saved version {saved.number}.")
            return HttpResponseRedirect(f"/flows/{flow.id}")
    handlers = sorted(registry.payload_models().items())
    return render(
        request,
        "flows/editor.html",
        {
            "flow": flow,
            "version": version,
            "text": text,
            "errors": errors,
            "warnings": _warnings(raw),
            # A valid text is saved and redirected: what shows is the saved version.
            "graph": render_graph(version.definition),
            "handlers": [(key, model.model_json_schema()) for key, model in handlers],
            "title": flow.name,
        },
        status=422 if errors else 200,
    )


def _errors(text: str) -> tuple[object, list[dict[str, object]]]:
    raw, parse_errors = parse_definition_json(text)
    found = parse_errors or validate_definition(raw, registry.payload_models())
    return raw, [{"loc": list(e.loc), "path": _path(e.loc), "msg": e.msg} for e in found]


def _warnings(raw: object) -> list[dict[str, object]]:
    found = definition_warnings(raw, registry.payload_models())
    return [{"loc": list(w.loc), "path": _path(w.loc), "msg": w.msg} for w in found]


def _path(loc: tuple[str | int, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc) or "(root)"


@member_required
@require_POST
def flow_preview(request: HttpRequest) -> JsonResponse:
    """Validate the editor's text and draw it; the editor calls this as the user types."""
    text = request.body.decode("utf-8", "replace")[:1_000_000]
    raw, errors = _errors(text)
    return JsonResponse(
        {
            "valid": not errors,
            "errors": errors,
            "graph": flowchart(raw),
            "summary": summary(raw),
            "warnings": _warnings(raw),
        }
    )


# The order page's flow section and its actions ------------------------------------------------


def order_panel(request: HttpRequest, order: Order) -> SafeString:
    """The flow section of the order page (registered with orders' page sections)."""
    runs = task_selectors.order_task_runs(order)
    flow_run = task_selectors.order_flow_run(order)
    graph = ""
    if flow_run is not None:
        current = [r for r in runs if r.generation == flow_run.generation]
        graph = render_graph(
            flow_run.flow_version.definition,
            states={r.key: r.state for r in current},
            timed_out={r.key for r in current if r.timed_out and r.unfinished},
        )
    context = {
        "order": order,
        "flow_run": flow_run,
        "manual_tasks": [_row(r) for r in runs if r.handler_key == "manual-task"],
        "confirmations": [_row(r) for r in task_selectors.confirmations(runs)],
        "failed_tasks": [r for r in runs if r.state == TaskRun.State.FAILED],
        "retrying_tasks": [r for r in runs if is_retrying(r)],
        "repeats": [_row(r) for r in task_selectors.repeated_side_effects(order)],
        "graph": graph,
    }
    return render_to_string("flows/order_panel.html", context, request=request)


def _row(run: TaskRun) -> dict[str, object]:
    """A task run with what its card shows: title, description, outcomes, assignee tags."""
    payload = task_selectors.task_payload(run)
    return {
        **task_json(run),
        "run": run,
        "description": payload.get("description", ""),
        "assigneeTags": payload.get("assigneeTags", []),
    }


@member_required
@require_POST
def order_action(request: HttpRequest, order_id: UUID, action: str) -> HttpResponse:
    """Staff actions on an order's flow: start, restart, or one task's."""
    who = principal(request)
    order = get_or_404(orders_for(who), order_id)
    try:
        if action == "start":
            flow = request.POST.get("flow") or None
            actions.start_order_flow(order=order, flow_key=flow, actor=who.actor)
            messages.success(request, "The flow has started.")
        elif action == "restart":
            actions.restart_flow(order=order, actor=who.actor)
            messages.success(request, "The flow restarts from its first stage.")
        else:
            task_id = UUID(request.POST.get("task", ""))
            run = task_selectors.tasks_for(who).get(order=order, pk=task_id)
            messages.success(request, _task_action(request, run, action))
    except (TaskRun.DoesNotExist, ValueError, DomainError) as exc:
        detail = exc.message if isinstance(exc, DomainError) else ""
        messages.error(request, detail or "That action is not possible.")
    return HttpResponseRedirect(f"/orders/{order.id}")


def _task_action(request: HttpRequest, run: TaskRun, action: str) -> str:
    """Apply a staff action to a task run of the user's organization; what to tell them."""
    actor = principal(request).actor
    if action == "complete":
        outcome = request.POST.get("outcome", "")
        comment = request.POST.get("comment", "")[:5000]
        actions.complete_task(run=run, outcome=outcome, comment=comment, actor=actor)
        return f"Task {run.key} completed."
    if action in ("confirm", "skip"):
        reason = request.POST.get("reason", "").strip()[:2000]
        if not reason:
            raise Invalid("Say why (the reason goes on the timeline).", field=("form", "reason"))
        actions.confirm_task(run=run, actor=actor, reason=reason, skip=action == "skip")
        return f"Confirmation {run.key} {'skipped' if action == 'skip' else 'confirmed'}."
    if action == "retry":
        actions.retry_task(run=run, actor=actor)
        return f"Task {run.key} will run again."
    raise Http404


# The Tasks page: what waits for a person across the organization's orders -------------------


@member_required
def tasks(request: HttpRequest) -> HttpResponse:
    mine = request.GET.get("mine") == "1"
    tags = list(user(request).tags) if mine else None
    runs = task_selectors.worklist(principal(request), tags=tags)
    context = {"rows": [_row(r) for r in runs], "mine": mine, "title": "Tasks"}
    return render(request, "flows/tasks.html", context)


@member_required
def tasks_count(request: HttpRequest) -> HttpResponse:
    """The sidebar's badge, fetched by htmx: the sidebar is cached for every organization."""
    count = task_selectors.waiting_count(principal(request).organization)
    badge = format_html('<span class="badge text-bg-warning ms-1">{}</span>', count)
    return HttpResponse(badge if count else "")


@member_required
@require_POST
def task_action(request: HttpRequest, task_id: UUID, action: str) -> HttpResponse:
    """Complete, confirm or skip a task from the Tasks page: its row comes back (htmx)."""
    run = get_or_404(task_selectors.tasks_for(principal(request)), task_id)
    try:
        done, error = _task_action(request, run, action), ""
    except DomainError as exc:
        done, error = "", exc.message
    if not request.headers.get("HX-Request"):
        (messages.success if done else messages.error)(request, done or error)
        return HttpResponseRedirect("/tasks")
    context = {"row": _row(run), "done": done, "error": error}
    return render(request, "flows/tasks_row.html", context)  # htmx swaps 2xx answers only
