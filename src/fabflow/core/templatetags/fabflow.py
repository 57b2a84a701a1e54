"""Template helpers of the web app."""

from __future__ import annotations

from django import template
from django.urls import get_script_prefix

from fabflow.core.tables import money

register = template.Library()


register.filter("money", money)


@register.simple_tag
def script_prefix() -> str:
    """Where the app is mounted (`SCRIPT_NAME`): cached fragments with links vary on it."""
    return get_script_prefix()
