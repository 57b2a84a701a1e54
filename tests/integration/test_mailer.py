"""E-mails of one thread share an SMTP session, and a dropped session is replaced."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.mail import EmailMessage

from fabflow.core import mailer
from tests.support.servers import SmtpSink


def _mail(n: int) -> EmailMessage:
    return EmailMessage(subject=f"m{n}", body="b", to=["ann@example.com"])


@pytest.fixture
def sink(settings: Any) -> Iterator[SmtpSink]:
    server = SmtpSink().start()
    _use(settings, server)
    yield server
    server.stop()


def _use(settings: Any, server: SmtpSink) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False


def test_emails_of_a_thread_share_one_session(sink: SmtpSink) -> None:
    # when a thread sends three e-mails one after the other
    for n in range(3):
        mailer.send([_mail(n)], timeout=5)
    # then all arrive, over one SMTP session
    assert len(sink.messages) == 3
    assert sink.sessions == 1


def test_a_session_the_server_dropped_is_replaced(sink: SmtpSink) -> None:
    # given a session left open, and a server restarted on the same port since
    mailer.send([_mail(1)], timeout=5)
    sink.stop()
    restarted = SmtpSink(port=sink.port).start()
    try:
        # when the next e-mail is sent
        mailer.send([_mail(2)], timeout=5)
        # then it arrives at the new server, over a new session
        assert [b"m2" in m for m in restarted.messages] == [True]
    finally:
        restarted.stop()


def test_other_mail_settings_take_a_new_session(sink: SmtpSink, settings: Any) -> None:
    # given a session to one server; when the settings name another one
    mailer.send([_mail(1)], timeout=5)
    other = SmtpSink().start()
    try:
        _use(settings, other)
        mailer.send([_mail(2)], timeout=5)
        # then the e-mail goes to the other server
        assert (len(sink.messages), len(other.messages)) == (1, 1)
    finally:
        other.stop()


def test_an_idle_session_is_not_reused(sink: SmtpSink, settings: Any) -> None:
    # given sessions are kept no time at all
    settings.FABFLOW_SMTP_IDLE_SECONDS = 0
    # when two e-mails are sent
    mailer.send([_mail(1)], timeout=5)
    mailer.send([_mail(2)], timeout=5)
    # then each had its own session
    assert sink.sessions == 2


def test_a_server_that_is_gone_is_an_error(sink: SmtpSink) -> None:
    # given a session left open, and the server stopped for good
    mailer.send([_mail(1)], timeout=5)
    sink.stop()
    # when the next e-mail is sent, then the error reaches the caller (the task retries)
    with pytest.raises(OSError):
        mailer.send([_mail(2)], timeout=2)


def test_file_backend_writes_each_call(settings: Any, tmp_path: Path) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path)
    mailer.send([_mail(1)], timeout=5)
    mailer.send([_mail(2)], timeout=5)
    # Django names the file by the second and the backend's id(), which two backends made in
    # one second may share: count the messages, not the files.
    written = "".join(path.read_text() for path in tmp_path.iterdir())
    assert (written.count("Subject: m1\n"), written.count("Subject: m2\n")) == (1, 1)
