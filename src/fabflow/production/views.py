"""Web pages of parametric models: the list with its upload form, a model's page with its
parameters, versions, new-version form and a preview rendered from typed-in parameters."""

from __future__ import annotations

import base64
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import render
from django.views.decorators.http import require_http_methods, require_POST

from fabflow.accounts import selectors as account_selectors
from fabflow.accounts.web import member_required, principal
from fabflow.core.errors import DomainError
from fabflow.orders.selectors import get_or_404
from fabflow.production import plugins, selectors, services
from fabflow.production.models import ModelVersion, ParametricModel
from fabflow.production.schemas import MAX_SOURCE_CHARS

STARTER = """\
// Inner diameter (mm)
size = 17; // [10:0.5:25]
width = 4; // [2:8]

difference() {
  cylinder(d = size + 3.6, h = width, $fn = 96);
  translate([0, 0, -1]) cylinder(d = size, h = width + 2, $fn = 96);
}
"""


@member_required
@require_http_methods(["GET", "POST"])
def models(request: HttpRequest) -> HttpResponse:
    who = principal(request)
    form: dict[str, Any] = {"kind": "openscad", "source": STARTER}
    error: dict[str, Any] | None = None
    if request.method == "POST":
        form = {
            k: request.POST.get(k, "") for k in ("space", "name", "kind", "source", "generator")
        }
        error, created = _create(request, form)
        if created is not None:
            return HttpResponseRedirect(f"/models/{created.id}")
    context = {
        "models": selectors.models_for(who).order_by("space__key", "name"),
        "spaces": account_selectors.organization_spaces(who.organization),
        "generators": sorted(plugins.generators()),
        "form": form,
        "error": error,
        "title": "Models",
    }
    return render(request, "production/list.html", context, status=422 if error else 200)


def _create(
    request: HttpRequest, form: dict[str, Any]
) -> tuple[dict[str, Any] | None, ParametricModel | None]:
    """The form's error (message, field, line), or the model it created."""
    who = principal(request)
    space = account_selectors.space_by_key(organization=who.organization, key=form["space"])
    name = form["name"].strip()
    if space is None or not name or len(name) > 200:
        return {"message": "A model needs a name (up to 200 characters) and a space."}, None
    if len(form["source"]) > MAX_SOURCE_CHARS:
        return {"message": f"The source is over {MAX_SOURCE_CHARS} characters."}, None
    python = form["kind"] == ParametricModel.Kind.PYTHON
    try:
        saved = services.create_model(
            space=space,
            name=name,
            kind=form["kind"],
            source="" if python else form["source"],
            generator=form["generator"] if python else "",
            actor=who.actor,
        )
    except DomainError as exc:
        return _error(exc, form["source"]), None
    _warn(request, saved.warnings)
    return None, saved.version.model


def _error(exc: DomainError, source: str) -> dict[str, Any]:
    """The message, and the line it names with that line's text (shown under the field)."""
    line = getattr(exc, "line", None)
    lines = source.splitlines()
    text = lines[line - 1] if line and line <= len(lines) else ""
    return {"message": exc.message, "line": line, "text": text}


def _warn(request: HttpRequest, warnings: list[str]) -> None:
    for warning in warnings:
        messages.warning(request, warning)


@member_required
@require_http_methods(["GET", "POST"])
def model(request: HttpRequest, model_id: UUID) -> HttpResponse:
    who = principal(request)
    found: ParametricModel = get_or_404(selectors.models_for(who), model_id)
    version = selectors.current_version(found)
    source, error = version.source, None
    if request.method == "POST":
        source = request.POST.get("source", "")[: MAX_SOURCE_CHARS + 1]
        try:
            saved = services.save_version(
                model=found,
                source=source if found.kind == ParametricModel.Kind.OPENSCAD else "",
                actor=who.actor,
            )
        except DomainError as exc:
            error = _error(exc, source)
        else:
            messages.success(request, f"Saved version {saved.version.number}.")
            _warn(request, saved.warnings)
            return HttpResponseRedirect(f"/models/{found.id}")
    context = {
        "model": found,
        "version": version,
        "versions": selectors.versions(found),
        "parameters": _fields(version),
        "source": source,
        "error": error,
        "title": found.name,
    }
    return render(request, "production/model.html", context, status=422 if error else 200)


def _fields(version: ModelVersion) -> list[dict[str, Any]]:
    """The preview form's inputs: a select for choices, a checkbox for a boolean, a number
    box with the range and step, or a text box with the length."""
    fields = []
    for parameter in version.parameters:
        labels = parameter.get("labels") or parameter.get("choices") or []
        options = list(zip(parameter.get("choices") or [], labels, strict=False))
        widget = (
            "select"
            if options
            else {"boolean": "checkbox", "number": "number"}.get(parameter["type"], "text")
        )
        fields.append({**parameter, "widget": widget, "options": options})
    return fields


@member_required
@require_POST
def model_preview(request: HttpRequest, model_id: UUID) -> HttpResponse:
    """The preview form's answer (htmx): the picture, or why there is none."""
    found = get_or_404(selectors.models_for(principal(request)), model_id)
    version = selectors.current_version(found)
    picture, error = "", ""
    try:
        png = services.preview(version, _configuration(version, request.POST))
        picture = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    except DomainError as exc:
        error = exc.message
    context = {"picture": picture, "error": error, "model": found}
    return render(request, "production/preview.html", context)


def _configuration(version: ModelVersion, posted: QueryDict) -> dict[str, Any]:
    """The typed-in values by parameter name; an unticked checkbox is false."""
    configuration: dict[str, Any] = {}
    for parameter in version.parameters:
        name = parameter["name"]
        if parameter["type"] == "boolean":
            configuration[name] = f"p:{name}" in posted
        elif f"p:{name}" in posted:
            configuration[name] = posted[f"p:{name}"]
    return configuration
