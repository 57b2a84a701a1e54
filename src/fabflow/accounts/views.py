"""Web pages for people: log in and out, password, users and secret keys (admins)."""

from __future__ import annotations

import secrets
from uuid import UUID

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_POST

from fabflow.accounts import selectors
from fabflow.accounts.forms import InviteForm, KeyForm, UserForm, parse_tags
from fabflow.accounts.models import Organization, User
from fabflow.accounts.services import (
    create_secret_key,
    create_user,
    revoke_secret_key,
    set_user_active,
    update_user,
)
from fabflow.accounts.web import admin_required, user

NEW_KEY_SESSION = "fabflow.new_key"


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True


def _org(request: HttpRequest) -> Organization:
    org = user(request).organization
    assert org is not None
    return org


def _org_user(request: HttpRequest, user_id: int) -> User:
    return selectors.organization_user_or_404(organization=_org(request), user_id=user_id)


@admin_required
def users(request: HttpRequest) -> HttpResponse:
    org = _org(request)
    invite = InviteForm(request.POST or None, prefix="invite")
    if request.method == "POST" and invite.is_valid():
        password = secrets.token_urlsafe(12)
        create_user(
            organization=org,
            email=invite.cleaned_data["email"],
            password=password,
            admin=invite.cleaned_data["role"] == User.Role.ADMIN,
            tags=parse_tags(invite.cleaned_data["tags"]),
        )
        messages.success(
            request,
            f"Invited {invite.cleaned_data['email']}. Their first password"
            f" (shown once): {password}",
        )
        return HttpResponseRedirect("/users")
    people = selectors.organization_users(org)
    return render(
        request,
        "accounts/users.html",
        {"people": people, "invite": invite, "roles": User.Role.choices, "title": "Users"},
    )


@admin_required
@require_POST
def user_update(request: HttpRequest, user_id: int) -> HttpResponse:
    person = _org_user(request, user_id)
    form = UserForm(request.POST)
    if form.is_valid():
        if person == request.user and form.cleaned_data["role"] != User.Role.ADMIN:
            messages.error(request, "You cannot remove your own admin role.")
        else:
            update_user(
                user=person,
                role=form.cleaned_data["role"],
                tags=parse_tags(form.cleaned_data["tags"]),
            )
            messages.success(request, f"Saved {person.email}.")
    else:
        messages.error(request, "Invalid role or tags.")
    return HttpResponseRedirect("/users")


@admin_required
@require_POST
def user_active(request: HttpRequest, user_id: int) -> HttpResponse:
    person = _org_user(request, user_id)
    if person == request.user:
        messages.error(request, "You cannot deactivate yourself.")
    else:
        set_user_active(user=person, active=request.POST.get("active") == "1")
        messages.success(
            request, f"{person.email} {'activated' if person.is_active else 'deactivated'}."
        )
    return HttpResponseRedirect("/users")


@admin_required
def keys(request: HttpRequest) -> HttpResponse:
    org = _org(request)
    form = KeyForm(request.POST or None, organization=org)
    if request.method == "POST" and form.is_valid():
        key, plain = create_secret_key(
            space=form.cleaned_data["space"],
            name=form.cleaned_data["name"],
            created_by=user(request),
        )
        messages.success(request, f"Key {key.prefix} created. Copy it now: it is shown only once.")
        # Post/redirect/get: a reload must not create another key. The plain key rides in the
        # session for exactly one page view.
        request.session[NEW_KEY_SESSION] = plain
        return HttpResponseRedirect("/keys")
    created = request.session.pop(NEW_KEY_SESSION, None)
    return render(
        request,
        "accounts/keys.html",
        {
            "keys": selectors.organization_keys(org),
            "form": form,
            "created": created,
            "title": "Secret keys",
        },
    )


@admin_required
@require_POST
def key_revoke(request: HttpRequest, key_id: UUID) -> HttpResponse:
    key = selectors.organization_key_or_404(organization=_org(request), key_id=key_id)
    revoke_secret_key(key=key)
    messages.success(request, f"Key {key.prefix} revoked.")
    return HttpResponseRedirect("/keys")
