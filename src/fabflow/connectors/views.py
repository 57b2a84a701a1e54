"""The Connections page (organization admins): list per space, create, edit, test."""

from __future__ import annotations

from itertools import groupby
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from fabflow.accounts.web import admin_required, principal
from fabflow.connectors import selectors, services
from fabflow.connectors.forms import CREDENTIAL_PREFIX, ConnectionForm
from fabflow.connectors.models import ConnectionKind
from fabflow.connectors.schemas import credential_fields
from fabflow.connectors.testing import run_test
from fabflow.core.errors import DomainError


@admin_required
@require_http_methods(["GET", "POST"])
@never_cache
def connections(request: HttpRequest) -> HttpResponse:
    """Every connection of the organization by space, and the form creating one."""
    who = principal(request)
    form = ConnectionForm(request.POST or None, organization=who.organization)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            created = services.create_connection(
                space=data["space"],
                name=data["name"],
                kind=data["kind"],
                base_url=data["base_url"],
                credentials=form.credentials(request.POST, data["kind"]),
                by=who.actor,
            )
        except DomainError as exc:
            form.add_problems(exc.problems or [((), exc.message)])
        else:
            messages.success(request, f"Connection {created.name} of {created.space.key} created.")
            return HttpResponseRedirect(reverse("connections"))
    rows = [(c, selectors.masked(c.credentials)) for c in selectors.connections_for(who)]
    spaces = [(key, list(group)) for key, group in groupby(rows, key=lambda row: row[0].space.key)]
    kind = form["kind"].value() or ConnectionKind.HP_SITEFLOW
    context = {"spaces": spaces, "form": form, "fields": _fields(form, str(kind))}
    return render(request, "connectors/connections.html", {**context, "title": "Connections"})


@admin_required
@require_GET
def credential_inputs(request: HttpRequest) -> HttpResponse:
    """The credential inputs of a kind, swapped into the create form when the kind changes."""
    kind = request.GET.get("kind", "")
    form = ConnectionForm(organization=principal(request).organization)
    return render(request, "connectors/credentials.html", {"fields": _fields(form, kind)})


@admin_required
@require_http_methods(["GET", "POST"])
@never_cache
def connection(request: HttpRequest, connection_id: UUID) -> HttpResponse:
    """Edit a connection. Credentials are write-only: an empty input keeps the stored value."""
    who = principal(request)
    found = selectors.connection_or_404(who, connection_id)
    initial = {"name": found.name, "base_url": found.base_url}
    form = ConnectionForm(
        request.POST or None, initial=initial, organization=who.organization, creating=False
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.update_connection(
                connection=found,
                name=form.cleaned_data["name"],
                base_url=form.cleaned_data["base_url"],
                credentials=form.credentials(request.POST, found.kind),
                by=who.actor,
            )
        except DomainError as exc:
            form.add_problems(exc.problems or [((), exc.message)])
            found.refresh_from_db()
        else:
            messages.success(request, f"Connection {found.name} saved.")
            return HttpResponseRedirect(reverse("connections"))
    shown = selectors.masked(found.credentials)
    context = {
        "connection": found,
        "form": form,
        "fields": _fields(form, found.kind, shown),
        "readable": services.decrypted(found) is not None,
        "title": f"Connection {found.name}",
    }
    return render(request, "connectors/connection.html", context)


@admin_required
@require_POST
def connection_test(request: HttpRequest, connection_id: UUID) -> HttpResponse:
    """Test a connection: htmx swaps the answer in beside the button; without htmx the answer
    comes back as a message on the list."""
    found = selectors.connection_or_404(principal(request), connection_id)
    result = run_test(found)
    if request.headers.get("HX-Request"):
        return render(request, "connectors/test_result.html", {"result": result})
    status = f" (HTTP {result.status})" if result.status is not None else ""
    text = f"Test of {found.name}: {'ok' if result.ok else 'failed'}{status}: {result.message}"
    (messages.success if result.ok else messages.error)(request, text)
    return HttpResponseRedirect(reverse("connections"))


def _fields(
    form: ConnectionForm, kind: str, shown: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """The credential inputs of `kind`: name, input name, the stored value masked, error."""
    return [
        {
            "name": name,
            "input": CREDENTIAL_PREFIX + name,
            "stored": (shown or {}).get(name, ""),
            "error": form.credential_errors.get(name, ""),
        }
        for name in credential_fields(kind)
    ]
