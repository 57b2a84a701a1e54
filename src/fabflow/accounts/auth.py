"""API authentication: a space's secret key (Bearer) or a logged-in user's session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from ninja.errors import AuthenticationError
from ninja.security import HttpBearer, SessionAuth

from fabflow.accounts.models import Organization, Space, User, UserManager
from fabflow.accounts.services import authenticate_secret_key


@dataclass(frozen=True)
class Principal:
    """Who is calling: a secret key sees one space; a user sees their organization."""

    organization: Organization
    space: Space | None
    actor: str

    @classmethod
    def of_user(cls, user: User) -> Principal:
        """A logged-in member: their whole organization."""
        assert user.organization is not None
        return cls(user.organization, None, f"user:{user.email}")

    def order_filter(self, via_order: str = "", *, own_organization: bool = True) -> dict[str, Any]:
        """Query filter keeping what this principal may see, for orders and the rows hanging
        off them. Orders, products and parts carry `organization` (no join for the web app's
        lists); other rows, and a key's space, are reached through the order."""
        if self.space is not None:
            return {f"{via_order}space": self.space}
        if own_organization:
            return {"organization": self.organization}
        return {f"{via_order}organization": self.organization}

    def space_filter(self) -> dict[str, Any]:
        """Query filter keeping rows of what this principal may see."""
        if self.space is not None:
            return {"space": self.space}
        return {"space__organization": self.organization}


class SecretKeyBearer(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Principal | None:
        key = authenticate_secret_key(token)
        if key is None:
            return None
        space = key.space
        return Principal(space.organization, space, f"key:{key.prefix}")


class UserSession(SessionAuth):
    """Session auth for the web app's own calls; CSRF is enforced on writes."""

    def __call__(self, request: HttpRequest) -> Principal | None:
        # Ninja's cookie auth checks CSRF before it looks for a user, so a caller with no
        # session at all got 403 "CSRF check Failed" on writes instead of 401. The check
        # guards a logged-in browser's session: it runs when there is one.
        if _session_user(request) is None:
            return None
        result = super().__call__(request)
        return result if isinstance(result, Principal) else None

    def authenticate(self, request: HttpRequest, key: str | None) -> Principal | None:
        user = _session_user(request)
        return None if user is None else Principal.of_user(user)


def authenticate(request: HttpRequest) -> Principal:
    """Run the API's authenticators by hand (for endpoints that also accept signed links)."""
    for auth in (SecretKeyBearer(), UserSession()):
        result = auth(request)
        if isinstance(result, Principal):
            return result
    raise AuthenticationError()


def _session_user(request: HttpRequest) -> User | None:
    user = getattr(request, "user", None)
    if isinstance(user, User) and user.is_active and user.organization is not None:
        return user
    return None


def axes_username(request: HttpRequest, credentials: dict[str, Any] | None) -> str | None:
    """The name django-axes counts failed logins under (AXES_USERNAME_CALLABLE): the address
    as stored, so that its case variants, which log in alike, share one lockout."""
    source: Any = credentials or getattr(request, "POST", None) or {}
    value = source.get("username")
    return UserManager.normalize_email(value) if isinstance(value, str) else None


def principal(request: HttpRequest) -> Principal:
    auth = request.auth  # type: ignore[attr-defined]
    assert isinstance(auth, Principal)
    return auth
