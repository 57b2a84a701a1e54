"""Domain errors: what services raise when a request cannot be done, with no HTTP in them."""

from __future__ import annotations

from collections.abc import Sequence


class DomainError(Exception):
    """A request the domain refuses; `message` is written for the person who sent it.

    `field` names the wrong input as a path (`("body", "products", 0, "parts")`) and `reason`
    is the short word for it when it differs from the message; `problems` lists several
    (path, reason) at once. The API answers with the status of the class (see `fabflow.api`).
    """

    def __init__(
        self,
        message: str,
        *,
        field: Sequence[str | int] | None = None,
        reason: str | None = None,
        problems: Sequence[tuple[Sequence[str | int], str]] = (),
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.problems = [(tuple(path), text) for path, text in problems]
        if field is not None:
            self.problems.insert(0, (tuple(field), reason or message))
        self.retry_after = retry_after  # seconds, for a Conflict that will pass


class Invalid(DomainError):
    """The input breaks a rule (422)."""


class Conflict(DomainError):
    """The input is valid, but the current state does not allow it (409)."""


class NotFound(DomainError):
    """The thing named does not exist, or is not the caller's to see (404)."""


class TooLarge(DomainError):
    """The input is over a documented limit (413)."""
