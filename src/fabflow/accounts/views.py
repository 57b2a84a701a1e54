"""Web pages for people: log in and out, password and time zone, users, secret keys and
signing secrets (admins)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from fabflow.accounts import selectors, services, signing
from fabflow.accounts.forms import InviteForm, KeyForm, UserForm
from fabflow.accounts.models import TIME_ZONES, Organization, User
from fabflow.accounts.web import admin_required, member_required, principal, user
from fabflow.core.errors import DomainError

NEW_KEY_SESSION = "fabflow.new_key"


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True


class PasswordView(auth_views.PasswordChangeView):
    """Change the password; the page also sets the person's time zone."""

    template_name = "accounts/password_change.html"
    success_url = "/password/done"
    extra_context = {"time_zones": TIME_ZONES}


def _org(request: HttpRequest) -> Organization:
    return principal(request).organization


def _org_user(request: HttpRequest, user_id: int) -> User:
    return selectors.organization_user_or_404(organization=_org(request), user_id=user_id)


@admin_required
def users(request: HttpRequest) -> HttpResponse:
    org = _org(request)
    invite = InviteForm(request.POST or None, prefix="invite")
    if request.method == "POST" and invite.is_valid():
        data, password = invite.cleaned_data, secrets.token_urlsafe(12)
        admin = data["role"] == User.Role.ADMIN
        services.create_user(
            organization=org, email=data["email"], password=password, admin=admin, tags=data["tags"]
        )
        shown = f"Their first password (shown once): {password}"
        messages.success(request, f"Invited {data['email']}. {shown}")
        return HttpResponseRedirect("/users")
    context = {"people": selectors.organization_users(org), "invite": invite, "title": "Users"}
    context |= {"roles": User.Role.choices, "time_zones": TIME_ZONES}
    return render(request, "accounts/users.html", context)


@admin_required
@require_POST
def user_update(request: HttpRequest, user_id: int) -> HttpResponse:
    person = _org_user(request, user_id)
    form = UserForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Invalid role or tags.")
        return HttpResponseRedirect("/users")
    with _domain_errors(request):
        role, tags = form.cleaned_data["role"], form.cleaned_data["tags"]
        services.update_user(user=person, role=role, tags=tags, by=user(request))
        messages.success(request, f"Saved {person.email}.")
    return HttpResponseRedirect("/users")


@admin_required
@require_http_methods(["GET", "POST"])
def user_active(request: HttpRequest, user_id: int) -> HttpResponse:
    """GET asks before a deactivation; the POST does it (or activates)."""
    person = _org_user(request, user_id)
    active = request.POST.get("active") == "1"
    if request.method == "GET":
        question = f"Deactivate {person.email}? They can no longer log in."
        return _confirm(request, question, "Deactivate", "/users", active="0")
    with _domain_errors(request):
        services.set_user_active(user=person, active=active, by=user(request))
        messages.success(request, f"{person.email} {'activated' if active else 'deactivated'}.")
    return HttpResponseRedirect("/users")


@member_required
@require_POST
def time_zone(request: HttpRequest) -> HttpResponse:
    """The person's own time zone, or with `organization` the organization's (admins)."""
    person, org_wide = user(request), request.POST.get("organization") == "1"
    if org_wide and not person.is_org_admin:
        raise PermissionDenied("admins only")
    with _domain_errors(request):
        zone = request.POST.get("time_zone", "")
        services.set_time_zone(user=person, time_zone=zone, organization=org_wide)
        messages.success(request, "Time zone saved.")
    return HttpResponseRedirect("/users" if org_wide else "/password")


@admin_required
def keys(request: HttpRequest) -> HttpResponse:
    org = _org(request)
    form = KeyForm(request.POST or None, organization=org)
    if request.method == "POST" and form.is_valid():
        key, plain = services.create_secret_key(
            space=form.cleaned_data["space"],
            name=form.cleaned_data["name"],
            created_by=user(request),
        )
        messages.success(request, f"Key {key.prefix} created. Copy it now: it is shown only once.")
        # Post/redirect/get: a reload must not create another key. The plain key rides in the
        # session for exactly one page view.
        request.session[NEW_KEY_SESSION] = plain
        return HttpResponseRedirect("/keys")
    return _keys_page(request, form, created=request.session.pop(NEW_KEY_SESSION, None))


def _keys_page(request: HttpRequest, form: KeyForm, **extra: Any) -> HttpResponse:
    org = _org(request)
    # Each space with the end of its previous signing secret's grace period, if it runs.
    spaces = [(space, signing.grace_ends(space)) for space in selectors.organization_spaces(org)]
    context = {"keys": selectors.organization_keys(org), "form": form, "spaces": spaces}
    return render(request, "accounts/keys.html", {**context, **extra, "title": "Secret keys"})


@admin_required
@require_http_methods(["GET", "POST"])
def key_revoke(request: HttpRequest, key_id: UUID) -> HttpResponse:
    key = selectors.organization_key_or_404(organization=_org(request), key_id=key_id)
    if request.method == "GET":
        question = f"Revoke key {key.prefix}… of {key.space.key}? Calls with it fail at once."
        return _confirm(request, question, "Revoke", "/keys")
    services.revoke_secret_key(key=key)
    messages.success(request, f"Key {key.prefix} revoked.")
    return HttpResponseRedirect("/keys")


@admin_required
@require_POST
@never_cache
def signing_secret(request: HttpRequest, space_id: UUID) -> HttpResponse:
    """Show a space's signing secret: only on this explicit request, and logged."""
    org = _org(request)
    space = selectors.organization_space_or_404(organization=org, space_id=space_id)
    secret = services.reveal_signing_secret(space=space, by=user(request))
    return _keys_page(request, KeyForm(organization=org), revealed=(space, secret))


@admin_required
@require_http_methods(["GET", "POST"])
def signing_secret_rotate(request: HttpRequest, space_id: UUID) -> HttpResponse:
    space = selectors.organization_space_or_404(organization=_org(request), space_id=space_id)
    hours = settings.FABFLOW_SIGNING_SECRET_GRACE_SECONDS / 3600
    if request.method == "GET":
        question = (
            f"Rotate the signing secret of {space.key}? The current one keeps signing beside "
            f"the new one for {hours:g} h; give receivers the new one before then."
        )
        return _confirm(request, question, "Rotate", "/keys")
    services.rotate_signing_secret(space=space, by=user(request))
    messages.success(request, f"Signing secret of {space.key} rotated.")
    return HttpResponseRedirect("/keys")


def _confirm(
    request: HttpRequest, question: str, button: str, back: str, **fields: str
) -> HttpResponse:
    """The page asking before a destructive POST to this same address."""
    context = {"question": question, "button": button, "back": back, "fields": fields}
    return render(request, "accounts/confirm.html", {**context, "title": button})


@contextmanager
def _domain_errors(request: HttpRequest) -> Iterator[None]:
    """A refused change is shown as a message on the page the view redirects to."""
    try:
        yield
    except DomainError as exc:
        messages.error(request, exc.message)
