"""Zip archives streamed entry by entry: memory stays constant whatever the files' size."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

from django.core.files.storage import Storage
from django.db.models.fields.files import FieldFile
from django.http import StreamingHttpResponse
from zipstream import ZipStream

from fabflow.exports.downloads import attach

CHUNK = 64 * 1024
PIECE_LENGTH = 120
_DRIVE = re.compile(r"^[A-Za-z]:")  # C:\… or C:name (relative to the drive's current folder)
_RESERVED_CHARS = re.compile(r'[<>:"|?*]')  # not allowed in Windows names (`:` names a stream)
# Device names Windows opens instead of a file, with any extension (`nul.txt` is NUL).
_DEVICES = {"con", "prn", "aux", "nul"} | {f"{d}{n}" for d in ("com", "lpt") for n in range(10)}


def _piece(text: str) -> str:
    """One folder or file name of an entry ("" if nothing of it is usable)."""
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    text = _RESERVED_CHARS.sub("_", _DRIVE.sub("", text.strip()))
    text = text.strip().rstrip(". ")  # Windows drops trailing dots and spaces; `..` goes too
    if text.split(".", 1)[0].strip().lower() in _DEVICES:
        text = "_" + text
    if len(text) > PIECE_LENGTH:
        stem, dot, ext = text.rpartition(".")
        keep = f"{dot}{ext}" if dot and stem and len(ext) < 16 else ""
        text = text[: PIECE_LENGTH - len(keep)] + keep
    return text


def safe_entry(*parts: str) -> str:
    """A zip entry name from path parts (`/` or `\\` separate folders): always relative, with
    no drive letters, `..`, control characters or characters Windows refuses; a file name
    with nothing usable left is `file`."""
    path = unicodedata.normalize("NFKC", "/".join(parts)).replace("\\", "/")
    pieces = [_piece(piece) for piece in path.split("/")]
    if not pieces[-1]:
        pieces[-1] = "file"
    return "/".join(piece for piece in pieces if piece)


def segment(label: str) -> str:
    """One folder of an entry named after a label (a product's name): slashes do not nest."""
    return _piece(unicodedata.normalize("NFKC", label).replace("/", "_").replace("\\", "_")) or "_"


def _chunks(storage: Storage, name: str) -> Iterator[bytes]:
    with storage.open(name, "rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


class EntryNames:
    """Unique entry names, compared without case as most file systems do: a second `a.stl`
    becomes `a (2).stl`; a file and a folder never share a name."""

    def __init__(self) -> None:
        self.taken: set[str] = set()  # files and folders, case-folded
        self.files: set[str] = set()
        self.folders: dict[str, str] = {}  # a folder as asked (case-folded) -> as written

    def claim(self, path: str) -> str:
        *folders, base = path.split("/")
        parent = ""
        for folder in folders:
            asked = (parent + folder).casefold()
            if asked not in self.folders:
                wanted = parent + folder
                written = self._free(wanted) if asked in self.files else wanted
                self.folders[asked] = written
                self.taken.add(written.casefold())
            parent = self.folders[asked] + "/"
        name = self._free(parent + base)
        self.taken.add(name.casefold())
        self.files.add(name.casefold())
        return name

    def _free(self, path: str) -> str:
        folder, slash, base = path.rpartition("/")
        stem, dot, ext = base.rpartition(".")
        if not stem:  # no extension, or a name like `.env`
            stem, dot, ext = base, "", ""
        candidate, n = path, 2
        while candidate.casefold() in self.taken:
            candidate = f"{folder}{slash}{stem} ({n}){dot}{ext}"
            n += 1
        return candidate


class Archive:
    """Collects entries; files are read only while the response streams."""

    def __init__(self) -> None:
        self.stream = ZipStream(sized=False)
        self.names = EntryNames()

    def add_text(self, name: str, text: str) -> None:
        self.stream.add(text.encode("utf-8"), self.names.claim(safe_entry(name)))

    def add_stored(self, name: str, file: FieldFile) -> None:
        """A model's file (a FileField's value), read while the archive streams."""
        entry = self.names.claim(safe_entry(name))
        self.stream.add(_chunks(file.storage, file.name or ""), entry)

    def response(self, name: str) -> StreamingHttpResponse:
        """The archive as a download named `name` + `.zip`, streamed while its files are read."""
        response = StreamingHttpResponse(iter(self.stream), content_type="application/zip")
        attach(response, name, suffix=".zip")
        return response
