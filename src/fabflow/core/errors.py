"""Domain errors: what services raise when a request cannot be done, with no HTTP in them.

The API (`fabflow.api`) answers each with a problem document (RFC 9457) and the status of its
class; the web views show the message. `field` names the input that is wrong, as a path
(`("body", "flowKey")`, `("body", "products", 0, "parts")`), so the answer can name it;
`reason` is the short word for that field when it differs from the message; `problems` lists
several fields at once (path, reason).
"""

from __future__ import annotations

from collections.abc import Sequence


class DomainError(Exception):
    """A request the domain refuses; `message` is written for the person who sent it."""

    def __init__(
        self,
        message: str,
        *,
        field: Sequence[str | int] | None = None,
        reason: str | None = None,
        problems: Sequence[tuple[Sequence[str | int], str]] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.problems = [(tuple(path), text) for path, text in problems]
        if field is not None:
            self.problems.insert(0, (tuple(field), reason or message))


class Invalid(DomainError):
    """The input breaks a rule (422)."""


class Conflict(DomainError):
    """The input is valid, but the current state does not allow it (409)."""

    def __init__(
        self,
        message: str,
        *,
        field: Sequence[str | int] | None = None,
        reason: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message, field=field, reason=reason)
        self.retry_after = retry_after


class NotFound(DomainError):
    """The thing named does not exist, or is not the caller's to see (404)."""


class TooLarge(DomainError):
    """The input is over a documented limit (413)."""
