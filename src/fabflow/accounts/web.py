"""Who is logged in to the web app: the views' access decorators and the request's principal."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from fabflow.accounts.auth import Principal
from fabflow.accounts.models import User

View = TypeVar("View", bound=Callable[..., HttpResponseBase])


def member_required(view: View) -> View:
    """Logged in, active and in an organization (superusers without one use the admin)."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        user = request.user
        if not isinstance(user, User) or user.organization is None:
            raise PermissionDenied("no organization")
        return view(request, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def admin_required(view: View) -> View:
    @member_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_org_admin:  # type: ignore[union-attr]
            raise PermissionDenied("admins only")
        return view(request, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def user(request: HttpRequest) -> User:
    """The logged-in member of a view behind member_required."""
    person = request.user
    assert isinstance(person, User) and person.organization is not None
    return person


def principal(request: HttpRequest) -> Principal:
    return Principal.of_user(user(request))
