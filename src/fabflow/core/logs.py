"""Log redaction: the tokens of one-time links (feedback, confirmation) are credentials."""

from __future__ import annotations

import logging
import re
from typing import Any

from gunicorn import glogging

TOKEN_IN_PATH = re.compile(r"(/api/v1/feedback/|/confirm/)[^/?#\s\"']+")


class RedactTokens(logging.Filter):
    """Replaces the token of a one-time link in a record's message with `[redacted]`; as a
    logger's filter it runs before any handler sees the record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = TOKEN_IN_PATH.sub(r"\1[redacted]", message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


REDACT = RedactTokens()


class GunicornLogger(glogging.Logger):
    """Gunicorn's logger with the redaction on its access and error logs."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.access_log, self.error_log):
            log.addFilter(REDACT)  # the same object: a reload's second setup adds nothing
