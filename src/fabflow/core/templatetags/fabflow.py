"""Template helpers of the web app."""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Any

from django import template
from django.conf import settings
from django.template.loader import get_template
from django.urls import get_script_prefix, reverse

register = template.Library()


@register.filter
def money(value: Decimal | None) -> str:
    return "" if value is None else f"{value:,.2f}"


@register.filter
def index(items: list[Any], position: int) -> Any:
    return items[position]


@register.filter
def index_key(mapping: dict[str, Any], key: Any) -> Any:
    return mapping.get(str(key), [])


@register.simple_tag
def rendered_once(template_name: str, **context: str | bool | None) -> str:
    """`template_name` rendered with only `context`, once per process for each context and
    script prefix: for parts of every page that depend on little (the sidebar's links, the
    assets), whose `{% url %}` and `{% static %}` tags took ~0.3 ms a page. Rendered every
    time with DEBUG, where templates change without a restart."""
    if settings.DEBUG:
        return _render(template_name, tuple(context.items()), get_script_prefix())
    return _rendered_once(template_name, tuple(sorted(context.items())), get_script_prefix())


@functools.lru_cache(maxsize=256)
def _rendered_once(template_name: str, context: tuple[Any, ...], script_prefix: str) -> str:
    return _render(template_name, context, script_prefix)


def _render(template_name: str, context: tuple[Any, ...], script_prefix: str) -> str:
    return get_template(template_name).render(dict(context))  # under the current prefix


@register.simple_tag
def url_once(name: str, *args: str) -> str:
    """`{% url name args %}`, reversed once per process for each name, arguments and script
    prefix: a table page has five to seven links that depend on nothing else; reverse() took
    ~0.15 ms of the page for them."""
    return _reversed(name, args, get_script_prefix())


@functools.lru_cache(maxsize=1024)
def _reversed(name: str, args: tuple[str, ...], script_prefix: str) -> str:
    return reverse(name, args=args)  # under the current prefix, the key's
