"""Web tables: columns, sorting, visible columns and rows, shared by pages and CSV exports."""

from __future__ import annotations

import functools
import html
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.http import HttpRequest
from django.utils import timezone
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
    # The model fields its columns and row styles read (`QuerySet.only`): a page then skips
    # the JSON documents of its rows and of their joined rows, which cost most of its time.
    fields: Sequence[str] = ()

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


def _esc(value: Any) -> str:
    """HTML-escape like Django's conditional_escape, without its lazy-string wrappers (a
    table page escapes thousands of values; those wrappers were a third of its time)."""
    if isinstance(value, UUID):
        return str(value)  # hex digits and dashes: nothing to escape
    if hasattr(value, "__html__"):
        return str(value.__html__())
    return html.escape(str(value))


def _cell_html(column: Column, row: Any) -> str:
    value = column.value(row)
    if column.kind == "status":
        return f'<span class="badge-status status-{_esc(row.status)}">{_esc(value)}</span>'
    if column.kind == "money":
        return "" if value is None else f"{value:,.2f}"
    if column.kind == "date":
        if value is None:
            return '<span class="text-muted">—</span>'
        local = timezone.localtime(value)
        return f'<time datetime="{local.isoformat()}">{local.strftime("%Y-%m-%d %H:%M")}</time>'
    if column.kind == "id":
        return f'<span class="muted-id">{_esc(value)}</span>'
    if column.link is not None:
        return f'<a href="{_esc(column.link(row))}">{_esc(value)}</a>'
    return _esc(value)


def _cell(column: Column, row: Any) -> str:
    """One table cell, every value in it escaped (rendered in Python: a template include per
    cell is slow)."""
    return f"{_td(column)}{_cell_html(column, row)}</td>"


@functools.cache
def _td(column: Column) -> str:
    return f'<td class="{_esc(column.kind)}" data-column="{_esc(column.key)}">'


def render_rows(
    columns: Sequence[Column], rows: Iterable[Any], css: Callable[[Any], str]
) -> SafeString:
    """The table body: each row with its selection check box and its cells, every value
    escaped. One template variable for the whole body (a template loop over rows and cells
    was a third of a page's time) and one mark_safe (it is not free either)."""
    body = []
    for row in rows:
        row_id = _esc(row.id)
        cells = "".join(_cell(c, row) for c in columns)
        body.append(
            f'<tr class="{_esc(css(row))}" data-id="{row_id}">'
            f'<td><input class="form-check-input" type="checkbox" name="ids" value="{row_id}"'
            f' aria-label="Select row"></td>{cells}</tr>'
        )
    return mark_safe("".join(body))  # noqa: S308
