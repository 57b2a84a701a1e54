"""Template helpers of the web app."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template
from django.http import HttpRequest

from fabflow.core.tables import Column
from fabflow.core.tables import sort_link as _sort_link

register = template.Library()


@register.filter
def money(value: Decimal | None) -> str:
    return "" if value is None else f"{value:,.2f}"


@register.filter
def index(items: list[Any], position: int) -> Any:
    return items[position]


@register.filter
def sort_link(column: Column, ordering: str) -> str:
    return _sort_link(ordering, column)


@register.simple_tag
def query_with(request: HttpRequest, **changes: Any) -> str:
    """The current query string with some parameters replaced ("" removes one)."""
    params = request.GET.copy()
    for name, value in changes.items():
        if value in ("", None):
            params.pop(name, None)
        else:
            params[name] = value
    return params.urlencode()


@register.filter
def index_key(mapping: dict[str, Any], key: Any) -> Any:
    return mapping.get(str(key), [])
