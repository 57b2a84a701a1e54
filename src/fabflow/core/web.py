"""Helpers of the web app's views: list filters from a query string, and a table page."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from django.http import HttpRequest, QueryDict
from pydantic import BaseModel, ValidationError

from fabflow.core import tables
from fabflow.core.pagination import paginate
from fabflow.core.problems import ApiError
from fabflow.core.tables import Table

PER_PAGE = 50


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
    *,
    saved_columns: tuple[Iterable[str], Iterable[str]] | None,
    row_css: Callable[[Any], str] = lambda row: "",
) -> dict[str, Any]:
    """Everything core/table.html needs: rows, columns, filters, ordering, pages;
    `saved_columns` is the columns the user hid and showed in this table (None: never chose)."""
    filters, bad = parse_filters(filter_model, request.GET)
    ordering = table.ordering(request)
    qs = filters.apply(table.rows(qs))
    page = partial(paginate, request, qs, keys=table.sort_keys, ordering=ordering, limit=PER_PAGE)
    try:
        rows, next_url = page(cursor=request.GET.get("cursor") or None)
    except ApiError:  # a stale or tampered cursor shows the first page, not an error
        rows, next_url = page(cursor=None)
    hidden = table.hidden(saved_columns)
    visible = table.visible(hidden)
    return {
        "table": table,
        "rows": tables.body(visible, rows, row_css),
        "next_url": next_url,
        "filters": filters,
        "bad_filters": bad,
        "ordering": ordering,
        "columns": visible,
        "head": tables.head(visible, ordering, request.GET),
        "hidden": hidden,
        # What the cached column menu varies on (see core/table.html).
        "hidden_key": ",".join(sorted(hidden)),
        "first_url": _without_cursor(request),
        "is_first_page": not request.GET.get("cursor"),
    }


def _without_cursor(request: HttpRequest) -> str:
    params = request.GET.copy()
    params.pop("cursor", None)
    return f"{request.path}?{params.urlencode()}" if params else request.path
