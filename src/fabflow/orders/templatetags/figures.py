"""`hours_minutes`: a print time in seconds as "h:mm", as the parts table shows it."""

from __future__ import annotations

from typing import Any

from django import template

from fabflow.core.tables import hours_minutes as _hours_minutes

register = template.Library()


@register.filter
def hours_minutes(seconds: Any) -> str:
    return _hours_minutes(seconds) if isinstance(seconds, int | float) else ""
