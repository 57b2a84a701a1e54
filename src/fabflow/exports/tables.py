"""Exports of a web table's selected rows: a CSV of its visible columns, or a zip with more."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.db.models import Prefetch, QuerySet
from django.http import HttpResponse
from django.http.response import HttpResponseBase

from fabflow.core.tables import Column, Table, load
from fabflow.exports import csvfile
from fabflow.exports.archive import Archive, segment
from fabflow.exports.downloads import attach

LIMIT = 50  # rows in one export: what a page shows


@dataclass(frozen=True)
class TableExport:
    """How a table's rows are exported, in the kinds its `exports` names: `csv` (the visible
    columns), `zip-csv` (that CSV at `csv_entry` and the `sheets`) and `zip` (with each row's
    `files` too, in a folder per row under `files_folder`)."""

    table: Table
    csv_entry: str
    sheets: Callable[[Sequence[Any]], Iterable[tuple[str, str]]] = lambda rows: ()  # (entry, CSV)
    files: Callable[[Any], Iterable[Any]] | None = None  # a row's files: `.name`, `.file`
    files_folder: str = ""
    prefetch: Sequence[str | Prefetch[Any]] = ()  # what `sheets` and `files` read of the rows

    @property
    def kinds(self) -> Sequence[str]:
        return self.table.exports

    def rows(self, qs: QuerySet[Any], ids: Sequence[UUID]) -> list[Any]:
        """The rows of `qs` (scoped by the caller) with these ids, in the order of `ids`."""
        if self.table.related:
            qs = qs.select_related(*self.table.related)
        by_id = {r.pk: r for r in qs.filter(pk__in=ids).prefetch_related(*self.prefetch)}
        return [by_id[i] for i in ids if i in by_id]

    def response(
        self, kind: str, columns: Sequence[Column], rows: Sequence[Any]
    ) -> HttpResponseBase:
        assert kind in self.kinds, kind
        name = self.table.name
        text = table_csv(columns, rows)
        if kind == "csv":
            response = HttpResponse(text, content_type="text/csv; charset=utf-8")
            return attach(response, name, suffix=".csv")
        archive = Archive()
        archive.add_text(self.csv_entry, text)
        for entry, sheet in self.sheets(rows):
            archive.add_text(entry, sheet)
        if kind == "zip" and self.files is not None:
            for row in rows:
                folder = segment(f"{row.name} ({str(row.pk)[:8]})")
                for file in self.files(row):
                    archive.add_stored(f"{self.files_folder}/{folder}/{file.name}", file.file)
        return archive.response(name)


def table_csv(columns: Sequence[Column], rows: Sequence[Any]) -> str:
    """The CSV of a table: its columns' titles, then each row's values of those columns (not
    the buttons of `start` columns nor the pictures of `image` columns)."""
    columns = [c for c in columns if c.kind not in ("start", "image")]
    load(columns, rows)
    return csvfile.render(
        [c.title for c in columns], ([c.value(row) for c in columns] for row in rows)
    )
