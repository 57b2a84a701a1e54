"""Web tables: columns, sorting, visible columns and rows, shared by pages and CSV exports."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe

from fabflow.accounts.models import TablePreference, User
from fabflow.core.pagination import SortKey


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    value: Callable[[Any], Any]
    sort: str | None = None  # the public ordering name (a key of the list's SortKey map)
    hidden: bool = False  # hidden by default (the ids)
    link: Callable[[Any], str] | None = None
    kind: str = "text"  # text | money | date | status | number


@dataclass(frozen=True)
class Table:
    name: str
    columns: Sequence[Column]
    sort_keys: dict[str, SortKey]
    default_ordering: str = "-createdAt"
    search_placeholder: str = "Search"
    exports: Sequence[str] = field(default_factory=lambda: ["csv"])

    def column(self, key: str) -> Column | None:
        return next((c for c in self.columns if c.key == key), None)

    def hidden_for(self, user: User) -> set[str]:
        pref = TablePreference.objects.filter(user=user, table=self.name).first()
        if pref is None:
            return {c.key for c in self.columns if c.hidden}
        return {key for key in pref.hidden_columns if self.column(key)}

    def visible_for(self, user: User) -> list[Column]:
        hidden = self.hidden_for(user)
        return [c for c in self.columns if c.key not in hidden]

    def save_hidden(self, user: User, hidden: Iterable[str]) -> None:
        keys = [c.key for c in self.columns if c.key in set(hidden)]
        TablePreference.objects.update_or_create(
            user=user, table=self.name, defaults={"hidden_columns": keys}
        )

    def ordering(self, request: HttpRequest) -> str:
        value = request.GET.get("ordering", self.default_ordering)
        return value if value.lstrip("-") in self.sort_keys else self.default_ordering


def sort_link(ordering: str, column: Column) -> str:
    """The ordering a click on this column's title asks for (toggles direction)."""
    assert column.sort is not None
    return f"-{column.sort}" if ordering == column.sort else column.sort


def _cell_html(column: Column, row: Any) -> str:
    value = column.value(row)
    if column.kind == "status":
        return format_html('<span class="badge-status status-{}">{}</span>', row.status, value)
    if column.kind == "money":
        return "" if value is None else f"{value:,.2f}"
    if column.kind == "date":
        if value is None:
            return '<span class="text-muted">—</span>'
        local = timezone.localtime(value)
        return format_html(
            '<time datetime="{}">{}</time>', local.isoformat(), local.strftime("%Y-%m-%d %H:%M")
        )
    if column.kind == "id":
        return format_html('<span class="muted-id">{}</span>', value)
    if column.link is not None:
        return format_html('<a href="{}">{}</a>', column.link(row), value)
    return str(conditional_escape(value))


def render_cell(column: Column, row: Any) -> SafeString:
    """One table cell; rendered in Python because a template include per cell is slow."""
    inner = mark_safe(_cell_html(column, row))  # noqa: S308 - every part is escaped above
    return format_html('<td class="{}" data-column="{}">{}</td>', column.kind, column.key, inner)
