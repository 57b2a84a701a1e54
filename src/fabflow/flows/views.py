"""Web pages of flows: the list, the create dialog, the editor with its live graph, and the
confirmation page that customers of `asset-email` tasks see."""

from __future__ import annotations

import json
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods, require_POST

from fabflow.accounts.models import Space
from fabflow.accounts.web import member_required, principal
from fabflow.core.problems import ApiError
from fabflow.flows import actions
from fabflow.flows import services as flow_services
from fabflow.flows.definition import parse_definition_json, validate_definition
from fabflow.flows.engine.context import CONFIRM_SALT, run_id_from
from fabflow.flows.graph import render_svg
from fabflow.flows.handlers import registry
from fabflow.flows.models import Flow, FlowVersion, TaskRun
from fabflow.orders.selectors import get_or_404


@require_http_methods(["GET", "POST"])
def confirm_task(request: HttpRequest, token: str) -> HttpResponse:
    """The single-use confirmation link of an `asset-email` task.

    GET only shows the page (mail scanners follow links); the POST of its button confirms.
    """
    run_id = run_id_from(token, CONFIRM_SALT, max_age=settings.FABFLOW_CONFIRMATION_MAX_AGE)
    run = TaskRun.objects.select_related("order").filter(pk=run_id).first() if run_id else None
    if run is None or run.handler_key != "asset-email":
        return render(request, "flows/confirm.html", {"state": "invalid"}, status=404)
    state = "ask" if run.state == TaskRun.State.WAITING else "done"
    if request.method == "POST" and state == "ask":
        try:
            actions.confirm_task(run=run, actor="customer")
            state = "confirmed"
        except ApiError:
            state = "done"
    status = 409 if request.method == "POST" and state == "done" else 200
    return render(
        request, "flows/confirm.html", {"state": state, "order": run.order}, status=status
    )


def _flows(request: HttpRequest) -> object:
    return Flow.objects.filter(**principal(request).space_filter()).select_related("space")


@member_required
def flows(request: HttpRequest) -> HttpResponse:
    org = principal(request).organization
    if request.method == "POST":
        return _create(request)
    rows = (
        Flow.objects.filter(space__organization=org)
        .select_related("space")
        .order_by("space__key", "name")
    )
    return render(
        request,
        "flows/list.html",
        {
            "flows": rows,
            "spaces": Space.objects.filter(organization=org).order_by("key"),
            "title": "Order flows",
        },
    )


def _create(request: HttpRequest) -> HttpResponse:
    org = principal(request).organization
    name = request.POST.get("name", "").strip()
    space = Space.objects.filter(organization=org, key=request.POST.get("space", "")).first()
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
            space=space, name=name, definition=starter, actor=principal(request).actor
        )
    except ApiError as exc:
        messages.error(request, exc.detail)
        return HttpResponseRedirect("/flows")
    return HttpResponseRedirect(f"/flows/{flow.id}")


@member_required
def flow_editor(request: HttpRequest, flow_id: UUID) -> HttpResponse:
    flow = get_or_404(_flows(request), flow_id)  # type: ignore[arg-type]
    version = FlowVersion.objects.get(flow=flow, number=flow.current_version)
    text = json.dumps(version.definition, indent=2)
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
            "graph": render_svg(json.loads(text) if not errors else version.definition),
            "handlers": [(key, model.model_json_schema()) for key, model in handlers],
            "title": flow.name,
        },
        status=422 if errors else 200,
    )


def _errors(text: str) -> tuple[object, list[dict[str, object]]]:
    raw, parse_errors = parse_definition_json(text)
    found = parse_errors or validate_definition(raw, registry.payload_models())
    return raw, [{"loc": list(e.loc), "path": _path(e.loc), "msg": e.msg} for e in found]


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
            "svg": render_svg(raw if isinstance(raw, list) else []),
        }
    )
