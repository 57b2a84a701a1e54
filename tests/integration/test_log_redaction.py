"""One-time link tokens (connector feedback, confirmation) never reach a log: Django's request
logger, runserver's, and gunicorn's access log of `fabflow serve`."""

from __future__ import annotations

import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.servers.basehttp import WSGIRequestHandler, WSGIServer
from django.core.wsgi import get_wsgi_application
from django.test import Client

from fabflow.flows.engine.context import confirmation_token, feedback_token
from tests.integration.test_serve import Serve, health, wait_until

RUN_ID = "7d1f0c3e-5b2a-4c8e-9f61-0a2b3c4d5e6f"
# Real tokens, for a run that does not exist: the pages answer 404, which Django logs.
FEEDBACK = feedback_token(RUN_ID)
CONFIRM = confirmation_token(RUN_ID)


def test_a_404_on_a_feedback_or_confirmation_link_is_logged_without_its_token(
    db: None, caplog: pytest.LogCaptureFixture
) -> None:
    # when a connector posts to a feedback link, and a customer opens a confirmation link,
    # of a task that is gone
    with caplog.at_level(logging.WARNING, logger="django.request"):
        feedback = Client().post(
            f"/api/v1/feedback/{FEEDBACK}", {"status": "success"}, content_type="application/json"
        )
        confirm = Client().get(f"/confirm/{CONFIRM}")
    # then Django logs both 404s, with the path but not the token
    assert (feedback.status_code, confirm.status_code) == (404, 404)
    assert [r.getMessage() for r in caplog.records if r.name == "django.request"] == [
        "Not Found: /api/v1/feedback/[redacted]",
        "Not Found: /confirm/[redacted]",
    ]


@pytest.fixture
def runserver() -> Iterator[int]:
    """Django's development server (what `runserver` runs), on a free port."""
    server = WSGIServer(("127.0.0.1", 0), WSGIRequestHandler)
    server.set_app(get_wsgi_application())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def status(request: str | urllib.request.Request) -> int:
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.django_db(transaction=True)
def test_runservers_request_log_has_no_token(runserver: int) -> None:
    # given a handler on runserver's request logger, as its console has
    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("django.server")
    logger.addHandler(handler)
    try:
        # when a confirmation link is opened
        answer = status(f"http://127.0.0.1:{runserver}/confirm/{CONFIRM}?from=mail")
        # The server logs the request after it has sent the response.
        wait_until(lambda: any("/confirm/" in r for r in records), 10, "the request line")
    finally:
        logger.removeHandler(handler)
    # then the request line is logged, its token redacted
    assert answer == 404
    assert [r.rsplit(" ", 1)[0] for r in records if "/confirm/" in r] == [
        '"GET /confirm/[redacted]?from=mail HTTP/1.1" 404'
    ]
    assert not any(CONFIRM in r for r in records)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Serve]:
    """`fabflow serve`: gunicorn, its access log on stdout."""
    served = Serve(tmp_path)
    yield served
    served.stop()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_gunicorns_access_log_has_no_token(server: Serve) -> None:
    # given fabflow serve, answering
    wait_until(lambda: health(server.port) == 200, 60, "serve's web server")
    base = f"http://127.0.0.1:{server.port}"
    # when a confirmation link is opened and a feedback link posted to
    assert status(f"{base}/confirm/{CONFIRM}") == 404
    request = urllib.request.Request(
        f"{base}/api/v1/feedback/{FEEDBACK}", data=b'{"status": "success"}', method="POST"
    )
    request.add_header("Content-Type", "application/json")
    request.add_header("Referer", f"{base}/confirm/{CONFIRM}")  # the access log shows it
    assert status(request) == 404
    wait_until(lambda: "POST /api/v1/feedback/" in server.log, 10, "the access log line")
    # then both requests are in the access log, neither token is
    assert '"GET /confirm/[redacted] HTTP/1.1" 404' in server.log
    assert '"POST /api/v1/feedback/[redacted] HTTP/1.1" 404' in server.log
    assert CONFIRM not in server.log and FEEDBACK not in server.log
