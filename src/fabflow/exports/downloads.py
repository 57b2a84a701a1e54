"""Download responses: the file name a browser saves, and headers that keep a file inert."""

from __future__ import annotations

import unicodedata
from typing import IO

from django.http import FileResponse
from django.http.response import HttpResponseBase
from django.utils.http import content_disposition_header

# Types a browser shows as a picture and never runs; every other file is served as opaque bytes
# to save, whatever type it was uploaded with (text/html, image/svg+xml, text/javascript, ...).
INLINE_IMAGES = {f"image/{t}": f"image/{t}" for t in ("png", "jpeg", "gif", "webp")}
INLINE_IMAGES["image/jpg"] = "image/jpeg"  # not registered, but sent by some clients
NEUTRAL_TYPE = "application/octet-stream"
# On a file response: scripts, styles, frames and plugins are off, and the document is in a
# unique origin even if a browser were to render it.
FILE_CSP = "default-src 'none'; sandbox"
# What a download's name may hold besides letters, digits and spaces: nothing that means
# something in a header (quotes, semicolons, backslashes), a path (slashes, colons) or an
# encoding browsers still decode in names (percent signs, `=?…?=`).
NAME_PUNCTUATION = set("-_.,()[]+&@#!~'")
NAME_LENGTH = 150


def filename(name: str, suffix: str = "") -> str:
    """A download's file name from a user's `name`, ending in our own `suffix` (`.zip`)."""
    name = unicodedata.normalize("NFKC", name)
    kept = "".join(
        ch if ch.isalnum() or ch == " " or ch in NAME_PUNCTUATION else "_"
        for ch in name
        if unicodedata.category(ch)[0] != "C"
    )
    kept = " ".join(kept.split()).strip(". ")[: NAME_LENGTH - len(suffix)]
    return (kept or "download") + suffix


def attach(
    response: HttpResponseBase, name: str, *, suffix: str = "", inline: bool = False
) -> HttpResponseBase:
    """Mark `response` as a file: its `Content-Disposition` by Django's helper from
    `filename(name, suffix)`, no type sniffing, and a sandbox if it is ever rendered."""
    disposition = content_disposition_header(not inline, filename(name, suffix))
    assert disposition is not None  # None only for an empty name; `filename` is never empty
    response["Content-Disposition"] = disposition
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = FILE_CSP
    return response


def served_type(content_type: str) -> str | None:
    """The type an uploaded file is shown inline with, or None: it is only downloaded."""
    essence = content_type.split(";", 1)[0].strip().lower()
    return INLINE_IMAGES.get(essence)


def file_response(handle: IO[bytes], *, name: str, content_type: str) -> FileResponse:
    """A stored file: known-safe images inline with their type, anything else an attachment
    of type `application/octet-stream`, so no upload runs as a page of this origin."""
    image = served_type(content_type)
    response = FileResponse(handle, content_type=image or NEUTRAL_TYPE)
    attach(response, name, inline=image is not None)
    return response
