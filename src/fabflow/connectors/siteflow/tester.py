"""The hp-siteflow connection test: one harmless signed request (list one order)."""

from __future__ import annotations

from django.utils import timezone

from fabflow.connectors.models import Connection
from fabflow.connectors.services import decrypted
from fabflow.connectors.siteflow.client import Account, Outbound, partner_message
from fabflow.connectors.testing import TestResult
from fabflow.flows.handlers.base import PermanentError, TransientError


def check_connection(connection: Connection) -> TestResult:
    """GET /api/order?pagesize=1, signed: Site Flow answers 401 to a wrong key or secret."""
    credentials = decrypted(connection) or {}
    account = Account(
        connection.base_url, credentials.get("key", ""), credentials.get("secret", "")
    )
    try:
        answer = account.call(Outbound(), "GET", "/api/order", now=timezone.now(), pagesize="1")
    except (TransientError, PermanentError) as exc:
        return TestResult(False, None, f"Site Flow unreachable: {exc}")
    if answer.ok:
        return TestResult(True, answer.status, "Site Flow accepted the signed request")
    said = partner_message(answer.body)
    return TestResult(
        False, answer.status, f"Site Flow answered {answer.status}" + (f": {said}" if said else "")
    )
