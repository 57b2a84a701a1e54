"""Web tables: columns, sort keys and visible columns, shared by pages and CSV exports."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, QueryDict
from django.urls import reverse
from django.utils import timezone

from fabflow.core.pagination import SortKey

_ID = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class Link:
    """A link from each cell to the URL `name` of the row's id `attr` (an id or foreign key)
    and any further `args`."""

    name: str
    attr: str
    args: tuple[str, ...] = ()

    def for_page(self) -> Callable[[Any], str]:
        """The cells' URLs, reversed once a page and then the id put in: reverse() took 13 µs
        a link, and a parts page has 150 links."""
        url, attr = reverse(self.name, args=[_ID, *self.args]), self.attr
        return lambda row: url.replace(_ID, str(getattr(row, attr)))


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    value: Callable[[Any], Any]
    sort: str | None = None  # the public ordering name (a key of the list's SortKey map)
    hidden: bool = False  # hidden by default (the ids)
    link: Link | None = None
    # text | money | date | status | number | id | start, image (a picture's URL; neither
    # is exported)
    kind: str = "text"
    badge: Callable[[Any], str] | None = None  # the CSS modifier of a status badge
    # Sets what `value` reads on a page's (or an export's) rows, when the column is shown:
    # a lookup per page instead of a join every page pays for.
    load: Callable[[Sequence[Any]], None] | None = None


def load(columns: Iterable[Column], rows: Sequence[Any]) -> None:
    for column in columns:
        if column.load is not None and rows:
            column.load(rows)


@dataclass(frozen=True)
class Table:
    name: str
    columns: Sequence[Column]
    sort_keys: dict[str, SortKey]
    default_ordering: str = "-createdAt"
    search_placeholder: str = "Search"
    exports: Sequence[str] = field(default_factory=lambda: ["csv"])  # csv | zip | zip-csv
    # The model fields its columns and row styles read (`QuerySet.only`): a page then skips
    # the JSON documents of its rows and of their joined rows, which cost most of its time.
    fields: Sequence[str] = ()
    related: Sequence[str] = ()  # the joined rows its columns read (`select_related`)

    def rows(self, qs: QuerySet[Any]) -> QuerySet[Any]:
        """`qs` with the joins and only the columns that the table's page reads."""
        qs = qs.select_related(*self.related) if self.related else qs
        return qs.only(*self.fields) if self.fields else qs

    def hidden(self, saved: tuple[Iterable[str], Iterable[str]] | None) -> set[str]:
        """The hidden columns: as a user chose (hidden, shown), the defaults for the rest."""
        hidden, shown = (set(keys) for keys in saved or ((), ()))
        return {c.key for c in self.columns if c.key in hidden or (c.hidden and c.key not in shown)}

    def visible(self, hidden: set[str]) -> list[Column]:
        return [c for c in self.columns if c.key not in hidden]

    def ordering(self, request: HttpRequest) -> str:
        value = request.GET.get("ordering", self.default_ordering)
        return value if value.lstrip("-") in self.sort_keys else self.default_ordering


def head(columns: Sequence[Column], ordering: str, query: QueryDict) -> list[dict[str, Any]]:
    """The header cells: each column, and for a sortable one the link to the first page in
    its ordering (toggled when it is the current one) and the current direction's arrow."""
    rest = query.copy()
    rest.pop("cursor", None)
    rest.pop("ordering", None)
    cells = []
    for c in columns:
        cell: dict[str, Any] = {"column": c, "href": None, "arrow": ""}
        if c.sort is not None:
            params = rest.copy()
            params["ordering"] = f"-{c.sort}" if ordering == c.sort else c.sort
            cell["href"] = f"?{params.urlencode()}"
            cell["arrow"] = " ▲" if ordering == c.sort else " ▼" if ordering == f"-{c.sort}" else ""
        cells.append(cell)
    return cells


def body(
    columns: Sequence[Column], rows: Iterable[Any], css: Callable[[Any], str]
) -> list[dict[str, Any]]:
    """The rows as core/table_rows.html shows them: each row's id and CSS class, and its
    cells, as dictionaries (the template's fastest lookups): the text, and the link, badge,
    time or muted style around it (a `start` cell: the flows its link starts). Values are
    formatted here, once a column's way is chosen, and escaped by the template; a template
    filter per value (`date`, `floatformat`) took longer than the rest of the cell."""
    rows = list(rows)
    load(columns, rows)
    makers = [_cell(c) for c in columns]
    return [
        {"id": row.pk, "css": css(row), "cells": [make(row) for make in makers]} for row in rows
    ]


def _cell(column: Column) -> Callable[[Any], dict[str, Any]]:
    """How a column's cells are made, chosen once a page."""
    value, link, badge, kind, key = column.value, column.link, column.badge, column.kind, column.key
    if kind == "date":
        tz = timezone.get_current_timezone()

        def date_cell(row: Any) -> dict[str, Any]:
            made = {"kind": kind, "key": key, "href": None, "badge": None}
            if (when := value(row)) is None:
                return {**made, "text": "—", "time": None, "muted": "text-muted"}
            # In the current time zone, "YYYY-MM-DD HH:MM" cut from the ISO form (as the `date`
            # filter would write it, in a tenth of the time).
            iso = when.astimezone(tz).isoformat()
            return {**made, "text": f"{iso[:10]} {iso[11:16]}", "time": iso, "muted": None}

        return date_cell
    href = link.for_page() if link is not None else None
    is_money = kind == "money"
    muted = "muted-id" if kind == "id" else None
    return lambda row: {
        "kind": kind,
        "key": key,
        "text": money(value(row)) if is_money else value(row),
        "href": href(row) if href is not None else None,
        "badge": badge(row) if badge is not None else None,
        "time": None,
        "muted": muted,
    }


def hours_minutes(seconds: float | None) -> str:
    """A duration as "h:mm", to the nearest minute ("" for none): print times."""
    if seconds is None:
        return ""
    hours, minutes = divmod(int((seconds + 30) // 60), 60)  # half a minute rounds up
    return f"{hours}:{minutes:02d}"


def money(value: Any) -> str:
    """An amount with two places and thousands commas ("" for none)."""
    return "" if value is None else f"{value:,.2f}"
