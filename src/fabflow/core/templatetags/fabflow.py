"""Template helpers of the web app."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template
from django.urls import get_script_prefix

register = template.Library()


@register.filter
def money(value: Decimal | None) -> str:
    return "" if value is None else f"{value:,.2f}"


@register.filter
def index_key(mapping: dict[str, Any], key: Any) -> Any:
    return mapping.get(str(key), [])


@register.simple_tag
def script_prefix() -> str:
    """Where the app is mounted (`SCRIPT_NAME`): cached fragments with links vary on it."""
    return get_script_prefix()
