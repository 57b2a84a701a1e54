"""Input types shared by the API schemas and the list filters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime


def _to_utc(value: datetime) -> datetime:
    """Store and compare instants in UTC: PostgreSQL refuses offsets beyond ±15:59, which
    Python (and so JSON input) accepts up to ±23:59."""
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise ValueError("date out of range") from exc


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
