"""Web tables: columns, sorting, visible columns and rows, shared by pages and CSV exports."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest

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
