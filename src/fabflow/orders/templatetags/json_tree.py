"""`tree`: a JSON value as nested definition lists, escaped, readable without JavaScript."""

from __future__ import annotations

import json
from typing import Any

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

register = template.Library()

MAX_DEPTH = 12  # deeper values are shown as their JSON text (and rendering never recurses deep)


@register.filter
def tree(value: Any, depth: int = 0) -> SafeString:
    """Objects and arrays as `<dl>`, each nested one folded in an open `<details>`."""
    if not isinstance(value, dict | list) or not value or depth >= MAX_DEPTH:
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        return format_html("{}", text)
    items = value.items() if isinstance(value, dict) else enumerate(value)
    rows = format_html_join(
        "", "<dt>{}</dt><dd>{}</dd>", ((k, tree(v, depth + 1)) for k, v in items)
    )
    html = format_html('<dl class="specs">{}</dl>', rows)
    if depth == 0:
        return html
    noun = ("field" if isinstance(value, dict) else "item") + ("s" if len(value) > 1 else "")
    return format_html("<details open><summary>{} {}</summary>{}</details>", len(value), noun, html)
