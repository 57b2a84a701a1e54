"""Sending e-mail over an SMTP session kept open per thread, and the plain-text part of HTML.

Django's SMTP backend opens a session (connect, EHLO, STARTTLS, AUTH, QUIT) per call, most of
the cost of one e-mail per task run. Each thread keeps its session open and replaces it when
the mail settings change, after `FABFLOW_SMTP_IDLE_SECONDS` idle (servers drop idle clients),
and once, at the next e-mail, when the server dropped it meanwhile; any other error closes it
and goes to the caller. Only the SMTP backend is kept open (a file backend would otherwise put
many e-mails in one file).
"""

from __future__ import annotations

import smtplib
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.core.mail.backends.smtp import EmailBackend as SmtpBackend
from inscriptis import get_text
from inscriptis.model.config import ParserConfig
from inscriptis.model.html_document_state import HtmlDocumentState
from inscriptis.model.tag import CustomHtmlTagHandlerMapping

# What a dropped session raises on its next use: the server said goodbye, or the socket is gone.
DROPPED = (smtplib.SMTPServerDisconnected, ConnectionError)

_local = threading.local()


@dataclass
class _Session:
    key: tuple[Any, ...]
    backend: SmtpBackend
    used: float


def send(messages: Sequence[EmailMessage], *, timeout: float) -> None:
    """Send `messages` with the configured backend; over this thread's open session for SMTP."""
    key = _settings_key(timeout)
    session: _Session | None = getattr(_local, "session", None)
    if session is not None and (
        session.key != key or time.monotonic() - session.used > settings.FABFLOW_SMTP_IDLE_SECONDS
    ):
        close()
    elif session is not None:
        try:
            session.backend.send_messages(list(messages))
        except DROPPED:
            close()  # and send once more, over a new session
        except BaseException:
            close()
            raise
        else:
            session.used = time.monotonic()
            return
    backend = get_connection(timeout=timeout)
    if not isinstance(backend, SmtpBackend):
        backend.send_messages(list(messages))
        return
    try:
        backend.open()
        backend.send_messages(list(messages))
    except BaseException:
        backend.close()
        raise
    _local.session = _Session(key, backend, time.monotonic())


def close() -> None:
    """Close this thread's session, if any (QUIT; errors of a dead session are ignored)."""
    session: _Session | None = getattr(_local, "session", None)
    _local.session = None
    if session is not None:
        session.backend.close()


def _settings_key(timeout: float) -> tuple[Any, ...]:
    """What a session was opened with: another value of any mail setting needs a new one."""
    names = sorted({n for n in dir(settings) if n.startswith("EMAIL_")})
    return (*(getattr(settings, n) for n in names), timeout)


def _link_start(state: HtmlDocumentState, attrs: dict[str, str]) -> None:
    state.link_target = attrs.get("href", "")


def _link_end(state: HtmlDocumentState) -> None:
    if state.link_target:
        state.tags[-1].write(f" ({state.link_target})")


# Links as `text (URL)`: readers of the plain-text part must still be able to follow them.
_TEXT = ParserConfig(
    custom_html_tag_handler_mapping=CustomHtmlTagHandlerMapping(
        {"a": _link_start}, {"a": _link_end}
    )
)


def plain_text(html: str) -> str:
    """The plain-text part of an HTML e-mail: breaks, lists and links kept, entities decoded."""
    return get_text(html, _TEXT)
