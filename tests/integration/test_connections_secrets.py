"""Connection credentials are never logged, never stored in plaintext, and survive a rotation
of FABFLOW_FIELD_KEYS (and of SECRET_KEY, with SECRET_KEY_FALLBACKS)."""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection as db
from django.db import connections
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from fabflow.accounts.services import create_user
from fabflow.connectors import testing
from fabflow.connectors.models import Connection
from fabflow.connectors.services import connection_for, create_connection, decrypted
from fabflow.connectors.testing import TestResult, register_tester, run_test
from fabflow.core import outbound
from fabflow.flows.handlers.base import PermanentError
from tests.factories import Tenant
from tests.integration.test_log_redaction import runserver  # noqa: F401 (a fixture)
from tests.integration.test_settings import clean_env as clean_env  # a fixture
from tests.integration.test_settings import fabflow

PLAIN = ["plain-key-Q7xWv2", "plain-secret-Z9kRt4", "plain-secret-2nd-M3hPq8", "web-secret-Y6bNc1"]
LOGGERS = ["", "django", "django.db.backends", "django.request", "django.server", "fabflow"]


@pytest.fixture
def testers(settings: Any) -> Iterator[None]:  # pytest-django's settings fixture
    """A Site Flow tester that sends the credentials to a partner on 127.0.0.1."""
    saved = dict(testing._TESTERS)
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]

    def tester(connection: Connection) -> TestResult:
        policy = outbound.OutboundPolicy.from_strings(settings.OUTBOUND_ALLOWLIST)
        creds = connection.credentials
        headers = {"x-api-key": creds["key"], "x-api-secret": creds["secret"]}
        answer = outbound.request(policy, "GET", f"{connection.base_url}/me", headers=headers)
        return TestResult(answer.status == 200, answer.status, answer.body.decode())

    register_tester("hp-siteflow", tester)
    yield
    testing._TESTERS.clear()
    testing._TESTERS.update(saved)


@pytest.fixture
def partner(httpserver: HTTPServer) -> str:
    """A partner that echoes what it was sent, credentials included, as partners' errors do."""

    def me(request: Request) -> Response:
        return Response(f"unknown key {request.headers.get('x-api-key')}", status=401)

    httpserver.expect_request("/me").respond_with_handler(me)
    return httpserver.url_for("").rstrip("/")


def everything_logged(caplog: pytest.LogCaptureFixture) -> str:
    """Each record's message, arguments, extras and traceback."""
    return caplog.text + "\n".join(repr(vars(r)) for r in caplog.records)


def test_no_log_holds_a_credential(
    tenant: Tenant, testers: None, partner: str, caplog: pytest.LogCaptureFixture
) -> None:
    # given every logger at DEBUG, the SQL statements logged as with DEBUG=True
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    api = {"HTTP_AUTHORIZATION": f"Bearer {tenant.secret}"}
    admin = Client()
    admin.force_login(
        create_user(organization=tenant.org, email="ada@acme.test", password="pw", admin=True)
    )

    def send(method: str, path: str, body: Any = None) -> Any:
        payload = json.dumps(body) if body is not None else ""
        call = getattr(Client(), method)
        return call(path, payload, content_type="application/json", **api)

    create = {"name": "sf", "kind": "hp-siteflow", "baseUrl": partner}
    with CaptureQueriesContext(db) as queries:
        # when connections are created, read, changed, refused and tested, by API and web
        made = send("post", "/api/v1/connections", {**create, "credentials": {
            "key": PLAIN[0], "secret": PLAIN[1]}}).json()  # fmt: skip
        path = f"/api/v1/connections/{made['id']}"
        send("get", "/api/v1/connections")
        send("get", path)
        send("put", path, {"credentials": {"secret": PLAIN[2]}})
        send("put", path, {"credentials": {"secret": PLAIN[2], "extra": PLAIN[1]}})
        send("post", "/api/v1/connections", {**create, "credentials": {"key": PLAIN[0]}})
        send(
            "post", "/api/v1/connections", {**create, "credentials": {"key": 7, "secret": PLAIN[1]}}
        )
        tested = send("post", f"{path}/test").json()
        new = {"space": "acme-rings", "name": "web", "kind": "hp-siteflow", "base_url": partner}
        admin.post(
            "/connections", {**new, "credential-key": PLAIN[0], "credential-secret": PLAIN[3]}
        )
        web = Connection.objects.get(name="web")
        admin.post(f"/connections/{web.id}", {"name": "web", "base_url": "bad",
                   "credential-secret": PLAIN[3]})  # fmt: skip
        admin.post(f"/connections/{web.id}", {"name": "web", "base_url": partner,
                   "credential-secret": PLAIN[3]})  # fmt: skip
        admin.post(f"/connections/{web.id}/test", HTTP_HX_REQUEST="true")
        admin.get("/connections")
    # then the calls were made and logged (the partner saw the key; the queries were logged)...
    assert tested == {"ok": False, "status": 401, "message": "unknown key ••••"}
    assert Connection.objects.get(name="sf").credentials["secret"] == PLAIN[2]
    assert any(r.name == "django.db.backends" for r in caplog.records)
    assert any(r.name == "django.request" for r in caplog.records)  # the 422s
    audit = [r.getMessage() for r in caplog.records if r.name == "fabflow.audit"]
    assert f"connection sf of space acme-rings created by key:{tenant.key.prefix}" in audit
    assert (
        "connection web of space acme-rings updated by user:ada@acme.test (credentials "
        "given: ['secret'])" in audit
    )
    logged = everything_logged(caplog) + "\n".join(str(q) for q in queries.captured_queries)
    # ... and no log line nor statement holds a credential
    assert [plain for plain in PLAIN if plain in logged] == []


@pytest.mark.django_db(transaction=True)
def test_runservers_request_log_holds_no_credential(
    runserver: int,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given runserver's request log (it does not propagate) and every other logger at DEBUG
    from tests.factories import make_tenant

    # The server thread's connection closes after each request: none outlives the test.
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    tenant = make_tenant("Acme", "acme-rings")
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append  # type: ignore[assignment]
    logging.getLogger("django.server").addHandler(handler)
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    base = f"http://127.0.0.1:{runserver}/api/v1/connections"
    body = {"name": "sf", "kind": "hp-siteflow", "baseUrl": "https://x.example"}
    try:
        # when a connection is created, refused, changed and tested over HTTP
        made = call(base, tenant.secret, "POST", {**body, "credentials": {
            "key": PLAIN[0], "secret": PLAIN[1]}})  # fmt: skip
        call(base, tenant.secret, "POST", {**body, "credentials": {"secret": PLAIN[1]}})
        call(f"{base}/{made['id']}", tenant.secret, "PUT", {"credentials": {"secret": PLAIN[2]}})
        call(f"{base}/{made['id']}/test", tenant.secret, "POST", None)
        wait_for(lambda: sum("/api/v1/connections" in r.getMessage() for r in records) >= 4)
    finally:
        logging.getLogger("django.server").removeHandler(handler)
    # then the request lines are logged, no credential anywhere
    assert len([r for r in records if "/api/v1/connections" in r.getMessage()]) == 4
    logged = everything_logged(caplog) + "\n".join(repr(vars(r)) for r in records)
    assert [plain for plain in PLAIN if plain in logged] == []


def call(url: str, key: str, method: str, body: Any) -> Any:
    data = json.dumps(body).encode() if body is not None else b""
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"Bearer {key}")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read())


def wait_for(condition: Any, seconds: float = 10) -> None:
    done = threading.Event()
    for _ in range(int(seconds * 20)):
        if condition():
            return
        done.wait(0.05)
    raise AssertionError("timed out")


def raw_credentials() -> str:
    """The credentials column as the database holds it."""
    with db.cursor() as cursor:
        cursor.execute("SELECT credentials FROM connectors_connection")
        (value,) = cursor.fetchone()
    return value if isinstance(value, str) else json.dumps(value)


def test_the_database_holds_no_plaintext(tenant: Tenant) -> None:
    # when a connection is stored
    create_connection(
        space=tenant.space, name="sf", kind="hp-siteflow", base_url="https://x.example",
        credentials={"key": PLAIN[0], "secret": PLAIN[1]},
    )  # fmt: skip
    # then its column holds the credential names with Fernet tokens, no value
    raw = json.loads(raw_credentials())
    assert sorted(raw) == ["key", "secret"]
    assert all(token.startswith("gAAAAA") for token in raw.values())
    assert PLAIN[0] not in raw_credentials() and PLAIN[1] not in raw_credentials()


@pytest.fixture
def keys() -> Iterator[Any]:
    """Switch the encryption keys. The library derives its Fernet keys once per field (a
    cached_property of the field): they are forgotten at each switch and after the test."""
    field = Connection._meta.get_field("credentials")

    def forget() -> None:
        field.__dict__.pop("keys", None)
        field.__dict__.pop("f", None)

    stack: list[Any] = []

    def use(**overrides: Any) -> None:
        while stack:
            stack.pop().disable()
        override = override_settings(**overrides)
        override.enable()
        stack.append(override)
        forget()

    yield use
    while stack:
        stack.pop().disable()
    forget()


def reloaded() -> Connection:
    return Connection.objects.get()


def test_a_field_key_rotation(tenant: Tenant, keys: Any) -> None:
    # given credentials written with key A
    keys(SALT_KEY=["key-A"])
    create_connection(
        space=tenant.space, name="sf", kind="hp-siteflow", base_url="https://x.example",
        credentials={"key": PLAIN[0], "secret": PLAIN[1]},
    )  # fmt: skip
    written_with_a = raw_credentials()
    # when only key B is configured / then they cannot be read, and say so
    keys(SALT_KEY=["key-B"])
    assert decrypted(reloaded()) is None
    with pytest.raises(PermanentError, match="cannot be decrypted: FABFLOW_FIELD_KEYS"):
        connection_for("acme-rings", "sf", "hp-siteflow")
    assert run_test(reloaded()).message.startswith("the credentials of connection 'sf' cannot")
    # when FABFLOW_FIELD_KEYS=B,A / then they are read, and the command re-encrypts with B
    keys(SALT_KEY=["key-B", "key-A"])
    assert reloaded().credentials == {"key": PLAIN[0], "secret": PLAIN[1]}
    out = StringIO()
    call_command("reencryptconnections", stdout=out)
    assert out.getvalue() == "re-encrypted 1 connection(s)\n"
    assert raw_credentials() != written_with_a
    # then key A can go
    keys(SALT_KEY=["key-B"])
    assert reloaded().credentials == {"key": PLAIN[0], "secret": PLAIN[1]}


def test_a_secret_key_rotation_needs_the_old_one_as_a_fallback(tenant: Tenant, keys: Any) -> None:
    # given credentials written under SECRET_KEY old
    keys(SECRET_KEY="old-secret-key-" + "x" * 40, SALT_KEY=["key-A"])
    create_connection(
        space=tenant.space, name="sf", kind="3yourmind", base_url="https://x.example",
        credentials={"token": PLAIN[1]},
    )  # fmt: skip
    # when SECRET_KEY changes without the fallback / then they cannot be read
    keys(SECRET_KEY="new-secret-key-" + "y" * 40, SALT_KEY=["key-A"])
    assert decrypted(reloaded()) is None
    # when the old key is a fallback / then they are read, and re-encrypted under the new one
    keys(
        SECRET_KEY="new-secret-key-" + "y" * 40,
        SECRET_KEY_FALLBACKS=["old-secret-key-" + "x" * 40],
        SALT_KEY=["key-A"],
    )
    assert reloaded().credentials == {"token": PLAIN[1]}
    call_command("reencryptconnections", stdout=StringIO())
    keys(SECRET_KEY="new-secret-key-" + "y" * 40, SALT_KEY=["key-A"])
    assert reloaded().credentials == {"token": PLAIN[1]}


def test_the_command_names_what_no_key_opens(tenant: Tenant, keys: Any) -> None:
    keys(SALT_KEY=["key-A"])
    create_connection(
        space=tenant.space, name="sf", kind="3yourmind", base_url="https://x.example",
        credentials={"token": PLAIN[1]},
    )  # fmt: skip
    keys(SALT_KEY=["key-B"])
    with pytest.raises(Exception, match=r"1 connection\(s\) no key opens.*: acme-rings/sf"):
        call_command("reencryptconnections", stdout=StringIO())


def test_the_keys_come_from_fabflow_field_keys_or_are_generated_once(
    clean_env: dict[str, str], tmp_path: Path
) -> None:
    code = "from django.conf import settings as s; print(s.SALT_KEY)"
    # given FABFLOW_FIELD_KEYS, the first encrypts and all decrypt, in their order; and the
    # former SECRET_KEYs the derivation also tries
    env = {**clean_env, "FABFLOW_FIELD_KEYS": "B,A", "SECRET_KEY_FALLBACKS": "old1,old2"}
    both = "from django.conf import settings as s; print(s.SALT_KEY, s.SECRET_KEY_FALLBACKS)"
    given = fabflow(["shell", "-v", "0", "-c", both], env, tmp_path)
    assert given.stdout.strip() == "['B', 'A'] ['old1', 'old2']", given.stderr
    # given none, one key is generated in the data directory and kept
    first = fabflow(["shell", "-v", "0", "-c", code], clean_env, tmp_path)
    second = fabflow(["shell", "-v", "0", "-c", code], clean_env, tmp_path)
    generated = (tmp_path / "data" / "field_key").read_text()
    assert first.stdout.strip() == second.stdout.strip() == f"[{generated!r}]"
    assert len(generated) >= 40
