"""CSV rendering with spreadsheet-formula injection neutralised; numbers stay numbers."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from itertools import chain
from typing import Any

# A cell starting with one of these is run as a formula by Excel, LibreOffice or Google Sheets
# (OWASP's list; LF too, as a precaution).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
# Text that is just a number (`-5`, `+1.5`, `2e-3`) is a value, not a formula: it stays as it is.
PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", re.ASCII)


def cell(value: Any) -> str:
    """A CSV cell; text a spreadsheet would run as a formula gets a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)  # numbers (also negative ones) are data, not formulas
    text = str(value)
    if text.startswith(FORMULA_STARTS) and not PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def render(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows([cell(v) for v in row] for row in chain([header], rows))
    return buffer.getvalue()
