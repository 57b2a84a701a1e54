"""Helpers of the web app's views: who is logged in, and the table-page plumbing."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, QueryDict
from django.http.response import HttpResponseBase
from pydantic import BaseModel, ValidationError

from fabflow.accounts.auth import Principal
from fabflow.accounts.models import User
from fabflow.core.pagination import paginate
from fabflow.core.problems import ApiError
from fabflow.core.tables import Table, render_column_menu, render_head, render_rows

View = TypeVar("View", bound=Callable[..., HttpResponseBase])
PER_PAGE = 50


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


def principal(request: HttpRequest) -> Principal:
    user = request.user
    assert isinstance(user, User) and user.organization is not None
    return Principal(user.organization, None, f"user:{user.email}")


def parse_filters(model: type[BaseModel], query: QueryDict) -> tuple[Any, list[str]]:
    """The list filter from query parameters; invalid ones are dropped and reported."""
    fields = model.model_fields
    data: dict[str, Any] = {}
    for name in fields:
        values = [v for v in query.getlist(name) if v != ""]
        if values:
            data[name] = values if name == "status" else values[-1]
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        bad = {str(e["loc"][0]) for e in exc.errors()}
        clean = {k: v for k, v in data.items() if k not in bad}
        return model.model_validate(clean), sorted(bad)


def table_page(
    request: HttpRequest,
    table: Table,
    qs: Any,
    filter_model: type[BaseModel],
    row_css: Callable[[Any], str] = lambda row: "",
) -> dict[str, Any]:
    """Everything a table template needs: rows, columns, filters, ordering, next page."""
    filters, bad = parse_filters(filter_model, request.GET)
    ordering = table.ordering(request)

    if table.fields:
        qs = qs.only(*table.fields)

    def page(cursor: str | None) -> tuple[list[Any], str | None]:
        return paginate(
            request,
            filters.apply(qs),
            keys=table.sort_keys,
            ordering=ordering,
            limit=PER_PAGE,
            cursor=cursor,
        )

    try:
        rows, next_url = page(request.GET.get("cursor") or None)
    except ApiError:  # a stale or tampered cursor shows the first page, not an error
        rows, next_url = page(None)
    user = request.user
    assert isinstance(user, User)
    hidden = table.hidden_for(user)
    visible = [c for c in table.columns if c.key not in hidden]
    return {
        "table": table,
        "rows": rows,
        "next_url": next_url,
        "filters": filters,
        "bad_filters": bad,
        "ordering": ordering,
        "columns": visible,
        "hidden": hidden,
        "first_url": _without(request, "cursor"),
        "is_first_page": not request.GET.get("cursor"),
        "body": render_rows(visible, rows, row_css),
        "head": render_head(visible, ordering, request.GET),
        "column_menu": render_column_menu(table, hidden),
    }


def _without(request: HttpRequest, *names: str) -> str:
    params = request.GET.copy()
    for name in names:
        params.pop(name, None)
    return f"{request.path}?{params.urlencode()}" if params else request.path
