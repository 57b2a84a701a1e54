"""Web tables: columns, sorting, visible columns and rows, shared by pages and CSV exports."""

from __future__ import annotations

import functools
import html
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from django.http import HttpRequest, QueryDict
from django.urls import get_script_prefix, reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from fabflow.accounts.models import TablePreference, User
from fabflow.accounts.selectors import HIDDEN_COLUMNS
from fabflow.core.pagination import SortKey

_ID = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class Link:
    """A link from each cell to the page `name` of the row's id `attr` (an id or foreign key)."""

    name: str
    attr: str

    def for_page(self) -> Callable[[Any], str]:
        """The cells' escaped URLs, reversed once (per script prefix) and then the id put
        in: reverse() took 13 µs a link, and looking up the script prefix for every cell
        1.3 µs (a parts page has 150 links). An id is hex digits and dashes: nothing to
        escape in it."""
        url, attr = _escaped_url(self.name, get_script_prefix()), self.attr
        return lambda row: url.replace(_ID, str(getattr(row, attr)))


@functools.cache
def _escaped_url(name: str, script_prefix: str) -> str:
    return html.escape(reverse(name, args=[_ID]))  # under the current script prefix, the key's


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    value: Callable[[Any], Any]
    sort: str | None = None  # the public ordering name (a key of the list's SortKey map)
    hidden: bool = False  # hidden by default (the ids)
    link: Link | None = None
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
        """The columns `user` has hidden: as read with the session's user (no query), or
        from the database for a user loaded otherwise."""
        loaded = getattr(user, HIDDEN_COLUMNS, None)
        if loaded is not None:
            saved = loaded.get(self.name)
        else:
            pref = TablePreference.objects.filter(user=user, table=self.name).first()
            saved = None if pref is None else pref.hidden_columns
        if saved is None:
            return {c.key for c in self.columns if c.hidden}
        return {key for key in saved if self.column(key)}

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
    kind = type(value)
    if kind is str:
        return html.escape(value)
    if kind is UUID:
        return str(value)  # hex digits and dashes: nothing to escape
    if hasattr(value, "__html__"):
        return str(value.__html__())
    return html.escape(str(value))


def _cell(column: Column, tz: Any) -> Callable[[Any], str]:
    """How a column's cells are written, every value in them escaped: chosen once per page,
    not once per cell (rendered in Python: a template include per cell is slow)."""
    td = f'<td class="{_esc(column.kind)}" data-column="{_esc(column.key)}">'
    value = column.value
    link = column.link.for_page() if column.link is not None else None
    if column.kind == "status":
        return lambda row: (
            f'{td}<span class="badge-status status-{_esc(row.status)}">'
            f"{_esc(value(row))}</span></td>"
        )
    if column.kind == "money":
        return lambda row: f"{td}{_money(value(row))}</td>"
    if column.kind == "date":
        return lambda row: f"{td}{_date(value(row), tz)}</td>"
    if column.kind == "id":
        return lambda row: f'{td}<span class="muted-id">{_esc(value(row))}</span></td>'
    if link is not None:
        return lambda row: f'{td}<a href="{link(row)}">{_esc(value(row))}</a></td>'
    return lambda row: f"{td}{_esc(value(row))}</td>"


def _money(value: Any) -> str:
    return "" if value is None else f"{value:,.2f}"


def _date(value: Any, tz: Any) -> str:
    if value is None:
        return '<span class="text-muted">—</span>'
    # timezone.localtime, with the zone looked up once a page; "YYYY-MM-DD HH:MM" cut from
    # the ISO form (strftime took twice as long).
    iso = value.astimezone(tz).isoformat()
    return f'<time datetime="{iso}">{iso[:10]} {iso[11:16]}</time>'


def render_head(columns: Sequence[Column], ordering: str, query: QueryDict) -> SafeString:
    """The header cells: each column's title; a sortable one links to the first page in its
    ordering (toggled when it is the current one) and shows the current direction. Rendered
    in Python like the body: the template loop took a fifth of a page's template time."""
    rest = query.copy()
    rest.pop("cursor", None)
    rest.pop("ordering", None)
    others = f"{rest.urlencode()}&" if rest else ""
    cells = []
    for c in columns:
        head = f'<th scope="col" class="{_esc(c.kind)}" data-column="{_esc(c.key)}">'
        title = _esc(c.title)
        if c.sort is None:
            cells.append(f"{head}{title}</th>")
            continue
        arrow = " ▲" if ordering == c.sort else " ▼" if ordering == f"-{c.sort}" else ""
        href = f"?{others}{urlencode({'ordering': sort_link(ordering, c)})}"
        cells.append(f'{head}<a href="{_esc(href)}">{title}{arrow}</a></th>')
    return mark_safe("".join(cells))  # noqa: S308


def render_column_menu(table: Table, hidden: set[str]) -> SafeString:
    """The check boxes that show and hide the table's columns (the form `columns-<name>`)."""
    form = _esc(f"columns-{table.name}")
    items = []
    for c in table.columns:
        key = _esc(c.key)
        checked = "" if c.key in hidden else " checked"
        items.append(
            f'<div class="form-check"><input class="form-check-input" type="checkbox"'
            f' form="{form}" name="visible" value="{key}" id="col-{key}"'
            f" data-column-toggle{checked}>"
            f'<label class="form-check-label" for="col-{key}">{_esc(c.title)}</label></div>'
        )
    return mark_safe("".join(items))  # noqa: S308


def render_rows(
    columns: Sequence[Column], rows: Iterable[Any], css: Callable[[Any], str]
) -> SafeString:
    """The table body: each row with its selection check box and its cells, every value
    escaped. One template variable for the whole body (a template loop over rows and cells
    was a third of a page's time) and one mark_safe (it is not free either)."""
    cells = [_cell(c, timezone.get_current_timezone()) for c in columns]
    body = []
    for row in rows:
        row_id = _esc(row.id)
        body.append(
            f'<tr class="{_esc(css(row))}" data-id="{row_id}">'
            f'<td><input class="form-check-input" type="checkbox" name="ids" value="{row_id}"'
            f' aria-label="Select row"></td>{"".join([cell(row) for cell in cells])}</tr>'
        )
    return mark_safe("".join(body))  # noqa: S308
