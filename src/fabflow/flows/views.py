"""Web pages of the flow engine that people outside the app see: the confirmation page."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from fabflow.core.problems import ApiError
from fabflow.flows import actions
from fabflow.flows.engine.context import CONFIRM_SALT, run_id_from
from fabflow.flows.models import TaskRun


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
