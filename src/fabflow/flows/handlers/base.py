"""The handler contract: what a task handler (built-in or plugin) receives and returns.

A handler never touches the engine's tables. It gets a narrow context — a snapshot of the
order, its validated payload, facts about its task run and a few services — and returns an
outcome; the runner turns outcomes into engine events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel

# Outcomes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Succeeded:
    """The task is done."""

    result: Mapping[str, Any] = field(default_factory=dict)
    message: str = ""


@dataclass(frozen=True)
class Failed:
    """The task failed for good (the reason goes on the timeline)."""

    reason: str


@dataclass(frozen=True)
class Waiting:
    """The task waits: for feedback, a person, a confirmation, or until `until`. A `result`
    (such as a partner's order id) is stored on the task run meanwhile."""

    until: datetime | None = None
    message: str = ""
    result: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class RetryLater:
    """A transient error: run the handler again later (the runner applies backoff)."""

    reason: str
    retry_after_s: float | None = None
    #: When the trouble began, if not at the run's start: the retry budget
    #: (FABFLOW_RETRY_FOR_SECONDS) counts from it. A task that polls a partner for days gives
    #: an outage on day three its own budget instead of failing at its first transient error.
    since: datetime | None = None


Outcome = Succeeded | Failed | Waiting | RetryLater


class TransientError(Exception):
    """A side effect failed in a way worth retrying (network, SMTP 4xx, HTTP 408/429/5xx)."""

    def __init__(self, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after_s = retry_after_s


class PermanentError(Exception):
    """A side effect failed for good (refused address, SMTP 5xx, HTTP 4xx, policy)."""


# Context ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AssetRef:
    """A ready asset of the order, as `Services.assets` lists it."""

    id: str
    name: str
    content_type: str
    size: int | None
    product_id: str | None
    part_id: str | None


@dataclass(frozen=True)
class TaskInfo:
    id: str
    key: str
    handler_key: str
    attempt: int  # how many times this task definition has been run (retries by staff)
    delivery: int  # how many times this run's handler has been called (transient retries)
    idempotency_key: str  # stable for the run: webhook-id, Message-ID


class Services(Protocol):
    """What a handler may do besides computing: all side effects go through here."""

    def send_mail(
        self,
        *,
        to: list[str],
        subject: str,
        html: str,
        cc: list[str] | None = None,
        bcc: list[str] | None = None,
    ) -> None: ...

    def http(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> Any: ...

    def sign_webhook(self, message_id: str, body: bytes) -> dict[str, str]: ...

    def store_asset(
        self,
        *,
        name: str,
        data: bytes,
        product_id: str | None = None,
        part_id: str | None = None,
        content_type: str = "",
        replace: bool = False,
    ) -> str: ...

    def render(self, text: str, *, html: bool = False, header: bool = False) -> str: ...

    def asset_overview(self, pattern: str) -> list[str]: ...

    def unfetched_assets(self, pattern: str) -> tuple[list[str], dict[str, str]]: ...

    def assets(
        self, pattern: str, *, product_id: str | None = None, part_id: str | None = None
    ) -> list[AssetRef]: ...

    def read_asset(self, asset_id: str) -> bytes: ...

    def download_url(self, asset_id: str) -> str: ...

    def merge_manufacturing_data(
        self,
        data: Mapping[str, Any],
        *,
        product_id: str | None = None,
        part_id: str | None = None,
    ) -> None: ...

    def save_progress(self, data: Mapping[str, Any]) -> dict[str, Any]: ...


@dataclass(frozen=True)
class HandlerContext:
    order: Mapping[str, Any]  # the API's order object (assets with download URLs)
    payload: BaseModel
    task: TaskInfo
    services: Services
    now: datetime
    feedback_url: str
    confirmation_url: str
    timeout_at: datetime | None = None
    # "startedAt": when the run started; "progress": what `services.save_progress` saved on
    # earlier calls of this run ({} on the first).
    extra: Mapping[str, Any] = field(default_factory=dict)


# Handler ------------------------------------------------------------------------------------


class Handler:
    """Subclass with `key`, `payload_model` and `run`; register under `fabflow.handlers`."""

    key: ClassVar[str]
    payload_model: ClassVar[type[BaseModel]]
    title: ClassVar[str] = ""
    #: True when the task ends by an outside event (feedback, a person, a confirmation).
    waits_for_event: ClassVar[bool] = False
    #: True for a handler whose `run` has no effect outside Fabflow's own rows (no e-mail, no
    #: call out, no files) and cannot bring the worker down, such as `wait` and
    #: `manual-task`: the engine then calls it inside the transaction that starts its run, so
    #: its start and its outcome cost one commit instead of two. A crash rolls both back, and
    #: the run is simply started again.
    in_transaction: ClassVar[bool] = False

    def run(self, ctx: HandlerContext) -> Outcome:
        raise NotImplementedError

    def on_event(self, ctx: HandlerContext, event: Mapping[str, Any]) -> Outcome | None:
        """An outside event for a waiting run (feedback, completion); None keeps waiting."""
        return None
