"""Testing a connection: each kind's tester makes a harmless authenticated call to the partner.

A partner module registers its tester from `ConnectorsConfig.ready()`:

    register_tester("hp-siteflow", test_siteflow)

where `test_siteflow(connection) -> TestResult` says what the partner answered (its HTTP
status and a short message). A tester that raises is reported as a failed test; the message
shown never holds a credential's value.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from fabflow.connectors.models import Connection
from fabflow.connectors.services import UNREADABLE, decrypted

log = logging.getLogger(__name__)

NO_TEST = "no test for this kind yet"
REDACTED = "••••"


@dataclass(frozen=True)
class TestResult:
    """What a connection test found: `status` is the partner's HTTP status (None when no
    answer came), `message` what it said or what went wrong."""

    __test__ = False  # a result, not a pytest test class

    ok: bool
    status: int | None
    message: str


Tester = Callable[[Connection], TestResult]
_TESTERS: dict[str, Tester] = {}


def register_tester(kind: str, tester: Tester) -> None:
    """Make `tester` the test of connections of `kind` (the last registration wins)."""
    _TESTERS[kind] = tester


def tester(kind: str) -> Tester | None:
    return _TESTERS.get(kind)


def run_test(connection: Connection) -> TestResult:
    """Run the kind's tester; what it says is cleaned of the connection's credentials."""
    credentials = decrypted(connection)
    if credentials is None:
        return TestResult(False, None, UNREADABLE.format(name=connection.name))
    run = _TESTERS.get(connection.kind)
    if run is None:
        return TestResult(False, None, NO_TEST)
    try:
        result = run(connection)
    except Exception as exc:
        # The exception's text may quote a request with a credential in it: only its class is
        # logged, and the caller sees the text redacted.
        log.warning("the test of connection %s raised %s", connection.pk, type(exc).__name__)
        result = TestResult(False, None, f"the test failed: {exc}")
    return TestResult(result.ok, result.status, redact(result.message, credentials))


def redact(text: str, credentials: dict[str, str]) -> str:
    """`text` with every credential value of four or more characters replaced by ••••."""
    for value in sorted(credentials.values(), key=len, reverse=True):
        if len(value) >= 4:
            text = text.replace(value, REDACTED)
    return text[:1000]
