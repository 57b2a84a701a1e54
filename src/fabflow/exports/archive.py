"""Zip archives streamed entry by entry: memory stays constant whatever the files' size."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator

from django.core.files.storage import Storage
from django.db.models.fields.files import FieldFile
from django.http import StreamingHttpResponse
from django.utils.http import content_disposition_header
from zipstream import ZipStream

CHUNK = 64 * 1024


def safe_entry(*parts: str) -> str:
    """A zip entry name from path parts: no absolute paths, no `..`, no control characters."""
    cleaned = []
    for part in parts:
        for piece in part.replace("\\", "/").split("/"):
            piece = "".join(ch for ch in piece if unicodedata.category(ch)[0] != "C").strip()
            if piece and piece not in (".", ".."):
                cleaned.append(piece[:120])
    return "/".join(cleaned) or "file"


def _chunks(storage: Storage, name: str) -> Iterator[bytes]:
    with storage.open(name, "rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


class Archive:
    """Collects entries; files are read only while the response streams."""

    def __init__(self) -> None:
        self.stream = ZipStream(sized=False)
        self.names: set[str] = set()

    def _unique(self, name: str) -> str:
        candidate, n = name, 1
        while candidate in self.names:
            stem, dot, ext = name.rpartition(".")
            candidate = f"{stem} ({n}).{ext}" if dot else f"{name} ({n})"
            n += 1
        self.names.add(candidate)
        return candidate

    def add_text(self, name: str, text: str) -> None:
        self.stream.add(text.encode("utf-8"), self._unique(name))

    def add_file(self, name: str, storage: Storage, stored_name: str) -> None:
        self.stream.add(_chunks(storage, stored_name), self._unique(name))

    def add_stored(self, name: str, file: FieldFile) -> None:
        """A model's file (a FileField's value), read while the archive streams."""
        self.add_file(name, file.storage, file.name or "")

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.stream)

    def response(self, filename: str) -> StreamingHttpResponse:
        """The archive as a download, streamed while its files are read."""
        response = StreamingHttpResponse(iter(self), content_type="application/zip")
        response["Content-Disposition"] = content_disposition_header(True, safe_entry(filename))
        return response
