"""Outbound HTTP policy against real servers on 127.0.0.1; address rules on literal IPs only."""

import hashlib
import io
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from fabflow.core.outbound import (
    Download,
    OutboundConnectionError,
    OutboundHTTPError,
    OutboundPolicy,
    OutboundTimeout,
    PolicyViolation,
    ResponseTooLarge,
    backoff_delay,
    check_destination,
    is_public_address,
    is_transient_status,
    request,
    retry_after_seconds,
    stream_download,
)

# Generous: these requests succeed against local servers; a busy 2-core machine must not turn
# them into timeouts (the timeout tests set their own short policy).
LOOPBACK = OutboundPolicy(allowlist=("127.0.0.1",), connect_timeout=10, read_timeout=10)
STRICT = OutboundPolicy()

Handler = Callable[[socket.socket, threading.Event], None]


def local_url(server: HTTPServer, path: str) -> str:
    return f"http://127.0.0.1:{server.port}{path}"


@pytest.fixture
def other_server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1")
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def raw_server() -> Iterator[Callable[[Handler], int]]:
    """Start a one-connection TCP server on 127.0.0.1 whose handler gets the raw socket."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(3)
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def start(handle: Handler) -> int:
        def serve() -> None:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                handle(conn, stop)

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        threads.append(thread)
        return int(listener.getsockname()[1])

    yield start
    stop.set()
    for thread in threads:
        thread.join(timeout=3)
    listener.close()


@pytest.fixture
def closed_port() -> Iterator[int]:
    # Bound but not listening: the kernel refuses connections to it.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    yield int(sock.getsockname()[1])
    sock.close()


def hang(conn: socket.socket, stop: threading.Event) -> None:
    conn.recv(65536)
    stop.wait(5)


def announce_a_large_body_then_hang(conn: socket.socket, stop: threading.Event) -> None:
    conn.recv(65536)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\nxx")
    stop.wait(5)


def endless_chunks(conn: socket.socket, stop: threading.Event) -> None:
    conn.recv(65536)
    chunk = b"x" * 1000
    try:
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(1000):
            conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        conn.sendall(b"0\r\n\r\n")
    except OSError:
        pass  # the client hung up, as it should


# -- requests against local servers -------------------------------------------------------------


def test_request_returns_status_headers_and_body(httpserver: HTTPServer) -> None:
    # given
    httpserver.expect_request(
        "/hook", method="POST", query_string="order=7", data=b'{"a": 1}', headers={"X-Token": "t"}
    ).respond_with_data(b"done", status=201, headers={"X-Order": "42"})
    # when
    response = request(
        LOOPBACK,
        "POST",
        local_url(httpserver, "/hook?order=7"),
        headers={"X-Token": "t"},
        body=b'{"a": 1}',
    )
    # then
    assert (response.status, response.body) == (201, b"done")
    assert response.headers["x-order"] == "42"
    httpserver.check_assertions()


def test_request_sends_host_header_of_the_url_not_the_callers(httpserver: HTTPServer) -> None:
    # given
    httpserver.expect_request("/").respond_with_data(b"ok")
    # when
    request(LOOPBACK, "GET", local_url(httpserver, "/"), headers={"Host": "evil.example"})
    # then
    assert [req.headers["Host"] for req, _ in httpserver.log] == [f"127.0.0.1:{httpserver.port}"]


def test_request_to_allow_listed_host_name_may_use_plain_http(httpserver: HTTPServer) -> None:
    # given
    httpserver.expect_request("/").respond_with_data(b"ok")
    policy = OutboundPolicy(allowlist=("LocalHost",))
    # when
    response = request(policy, "GET", f"http://localhost:{httpserver.port}/")
    # then
    assert (response.status, response.body) == (200, b"ok")


def test_request_to_loopback_without_allow_list_is_refused(httpserver: HTTPServer) -> None:
    # given
    httpserver.expect_request("/").respond_with_data(b"ok")
    # when
    with pytest.raises(PolicyViolation) as caught:
        request(STRICT, "GET", local_url(httpserver, "/"))
    # then
    assert caught.value.transient is False
    assert httpserver.log == []


@pytest.mark.parametrize(
    "url",
    [
        "https://localhost/",
        "https://127.0.0.1/",
        "https://[::1]/",
        "https://0.0.0.0/",
        "https://2130706433/",  # 127.0.0.1 spelled as one number
    ],
)
def test_https_to_a_local_name_or_address_is_refused_when_not_allow_listed(url: str) -> None:
    with pytest.raises(PolicyViolation, match="not a public address"):
        request(STRICT, "GET", url)


@pytest.mark.parametrize(
    "url_template",
    ["http://user:secret@127.0.0.1:{port}/", "http://user@127.0.0.1:{port}/"],
)
def test_credentials_in_url_are_refused(httpserver: HTTPServer, url_template: str) -> None:
    # given
    httpserver.expect_request("/").respond_with_data(b"ok")
    # when
    with pytest.raises(PolicyViolation, match="credentials"):
        request(LOOPBACK, "GET", url_template.format(port=httpserver.port))
    # then
    assert httpserver.log == []


@pytest.mark.parametrize(
    "url",
    [
        "ftp://127.0.0.1/file",
        "file:///etc/passwd",
        "gopher://127.0.0.1:70/",
        "http://",
        "http://127.0.0.1:99999/",
        "http://127.0.0.1/a b",
        "http://127.0.0.1/\r\nX-Injected: 1",
    ],
)
def test_malformed_or_non_http_urls_are_refused(url: str) -> None:
    with pytest.raises(PolicyViolation):
        request(LOOPBACK, "GET", url)


def test_redirect_is_returned_not_followed(
    httpserver: HTTPServer, other_server: HTTPServer
) -> None:
    # given
    target = local_url(other_server, "/target")
    other_server.expect_request("/target").respond_with_data(b"followed")
    httpserver.expect_request("/start").respond_with_data(
        b"", status=302, headers={"Location": target}
    )
    # when
    response = request(LOOPBACK, "GET", local_url(httpserver, "/start"))
    # then
    assert (response.status, response.headers["Location"]) == (302, target)
    assert other_server.log == []


def test_body_at_the_cap_is_read(httpserver: HTTPServer) -> None:
    # given
    httpserver.expect_request("/").respond_with_data(b"x" * 1000)
    # when
    response = request(LOOPBACK, "GET", local_url(httpserver, "/"), max_bytes=1000)
    # then
    assert response.body == b"x" * 1000


def test_body_announced_larger_than_the_cap_is_refused(httpserver: HTTPServer) -> None:
    # given
    httpserver.expect_request("/").respond_with_data(b"x" * 1001)
    # when
    with pytest.raises(ResponseTooLarge) as caught:
        request(LOOPBACK, "GET", local_url(httpserver, "/"), max_bytes=1000)
    # then
    assert caught.value.transient is False


def test_announced_content_length_over_the_cap_is_refused_before_reading(
    raw_server: Callable[[Handler], int],
) -> None:
    # given a server that promises a gigabyte and then sends nothing more
    port = raw_server(announce_a_large_body_then_hang)
    policy = OutboundPolicy(allowlist=("127.0.0.1",), read_timeout=2)
    # when
    with pytest.raises(ResponseTooLarge, match="announces 1000000000 bytes"):
        request(policy, "GET", f"http://127.0.0.1:{port}/", max_bytes=1000)


def test_chunked_body_is_aborted_once_it_passes_the_cap(
    raw_server: Callable[[Handler], int],
) -> None:
    # given
    port = raw_server(endless_chunks)
    # when
    with pytest.raises(ResponseTooLarge, match="exceeds 5000 bytes"):
        request(LOOPBACK, "GET", f"http://127.0.0.1:{port}/", max_bytes=5000)


def test_policy_cap_applies_when_no_max_bytes_is_given(
    raw_server: Callable[[Handler], int],
) -> None:
    # given
    port = raw_server(endless_chunks)
    policy = OutboundPolicy(allowlist=("127.0.0.1",), max_response_bytes=2000)
    # when
    with pytest.raises(ResponseTooLarge, match="exceeds 2000 bytes"):
        request(policy, "GET", f"http://127.0.0.1:{port}/")


def test_server_that_never_answers_times_out_as_transient(
    raw_server: Callable[[Handler], int],
) -> None:
    # given
    port = raw_server(hang)
    policy = OutboundPolicy(allowlist=("127.0.0.1",), connect_timeout=1, read_timeout=0.3)
    # when
    with pytest.raises(OutboundTimeout) as caught:
        request(policy, "GET", f"http://127.0.0.1:{port}/")
    # then
    assert caught.value.transient is True


def test_a_refused_address_falls_back_to_the_next_one_the_name_resolved_to(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a name resolving to an address where nothing listens, then to the server's
    real_getaddrinfo = socket.getaddrinfo
    addresses = ("127.0.0.2", "127.0.0.1")

    def getaddrinfo(host: str, port: int, *args: object, **kwargs: object) -> object:
        if host != "two.test":
            return real_getaddrinfo(host, port, *args, **kwargs)  # type: ignore[arg-type]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)) for ip in addresses]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    httpserver.expect_request("/").respond_with_data(b"ok")
    policy = OutboundPolicy(allowlist=("two.test",), connect_timeout=10, read_timeout=10)
    # when
    response = request(policy, "GET", f"http://two.test:{httpserver.port}/")
    # then
    assert (response.status, response.body) == (200, b"ok")
    assert [req.headers["Host"] for req, _ in httpserver.log] == [f"two.test:{httpserver.port}"]


def test_refused_connection_is_a_transient_connection_error(closed_port: int) -> None:
    with pytest.raises(OutboundConnectionError) as caught:
        request(LOOPBACK, "GET", f"http://127.0.0.1:{closed_port}/")
    assert caught.value.transient is True


def make_certificate(directory: Path, name: str) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to make a self-signed certificate")
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    options = "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1".split()
    subprocess.run(  # noqa: S603
        [
            openssl,
            *options,
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            f"/CN={name}",
            "-addext",
            f"subjectAltName=DNS:{name}",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[Callable[[str], tuple[HTTPServer, Path]]]:
    """Start an https server on 127.0.0.1 with a self-signed certificate for a given name."""
    servers: list[HTTPServer] = []

    def start(name: str) -> tuple[HTTPServer, Path]:
        cert, key = make_certificate(tmp_path, name)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server = HTTPServer(host="127.0.0.1", ssl_context=context)
        server.start()
        servers.append(server)
        server.expect_request("/").respond_with_data(b"secure")
        return server, cert

    yield start
    for server in servers:
        server.clear()
        server.stop()


LOCALHOST = OutboundPolicy(allowlist=("localhost",))


def test_https_with_an_untrusted_certificate_fails(
    tls_server: Callable[[str], tuple[HTTPServer, Path]],
) -> None:
    # given
    server, _ = tls_server("localhost")
    # when
    with pytest.raises(OutboundConnectionError, match="TLS"):
        request(LOCALHOST, "GET", f"https://localhost:{server.port}/")
    # then
    assert server.log == []


def test_https_verifies_the_url_host_name_while_connecting_to_the_checked_address(
    tls_server: Callable[[str], tuple[HTTPServer, Path]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a certificate for "localhost" that OpenSSL trusts
    server, cert = tls_server("localhost")
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    # when
    response = request(LOCALHOST, "GET", f"https://localhost:{server.port}/")
    # then
    assert (response.status, response.body) == (200, b"secure")
    assert [req.headers["Host"] for req, _ in server.log] == [f"localhost:{server.port}"]


def test_https_with_a_certificate_for_another_name_fails(
    tls_server: Callable[[str], tuple[HTTPServer, Path]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a trusted certificate, but for another name
    server, cert = tls_server("other.example")
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    # when
    with pytest.raises(OutboundConnectionError, match=re.escape("doesn't match 'other.example'")):
        request(LOCALHOST, "GET", f"https://localhost:{server.port}/")
    # then
    assert server.log == []


# -- downloads ----------------------------------------------------------------------------------


def test_stream_download_writes_the_body_and_reports_size_and_digest(
    httpserver: HTTPServer,
) -> None:
    # given
    content = bytes(range(256)) * 1000
    httpserver.expect_request("/part.stl").respond_with_data(content)
    dest = io.BytesIO()
    # when
    result = stream_download(LOOPBACK, local_url(httpserver, "/part.stl"), dest, max_bytes=10**6)
    # then
    assert (result.status, result.size, result.sha256) == (
        200,
        256_000,
        hashlib.sha256(content).hexdigest(),
    )
    assert isinstance(result, Download)
    assert dest.getvalue() == content


@pytest.mark.parametrize(("status", "transient"), [(404, False), (302, False), (503, True)])
def test_stream_download_raises_on_non_2xx(
    httpserver: HTTPServer, status: int, transient: bool
) -> None:
    # given
    httpserver.expect_request("/part.stl").respond_with_data(b"nope", status=status)
    dest = io.BytesIO()
    # when
    with pytest.raises(OutboundHTTPError) as caught:
        stream_download(LOOPBACK, local_url(httpserver, "/part.stl"), dest, max_bytes=1000)
    # then
    assert (caught.value.status, caught.value.transient) == (status, transient)
    assert dest.getvalue() == b""


def test_stream_download_aborts_past_max_bytes(raw_server: Callable[[Handler], int]) -> None:
    port = raw_server(endless_chunks)
    with pytest.raises(ResponseTooLarge):
        stream_download(LOOPBACK, f"http://127.0.0.1:{port}/", io.BytesIO(), max_bytes=5000)


def test_stream_download_refuses_loopback_without_allow_list(httpserver: HTTPServer) -> None:
    with pytest.raises(PolicyViolation):
        stream_download(STRICT, local_url(httpserver, "/"), io.BytesIO(), max_bytes=1000)
    assert httpserver.log == []


# -- address rules (literal IPs, no traffic) ----------------------------------------------------


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("127.0.0.1", False),
        ("0.0.0.0", False),  # noqa: S104
        ("100.64.0.1", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("::1", False),
        ("::", False),
        ("fc00::1", False),
        ("fd12:3456::1", False),
        ("fe80::1", False),
        ("fec0::1", False),  # deprecated site-local
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("2002:7f00:1::", False),  # 6to4 wrapping 127.0.0.1
        ("64:ff9b::7f00:1", False),  # NAT64 prefix
        ("93.184.215.14", True),
        ("8.8.8.8", True),
        ("::ffff:8.8.8.8", True),
        ("2606:4700:4700::1111", True),
    ],
)
def test_is_public_address(address: str, public: bool) -> None:
    assert is_public_address(address) is public


@pytest.mark.parametrize(
    "addresses",
    [
        ["10.0.0.5"],
        ["192.168.1.1"],
        ["169.254.169.254"],
        ["::1"],
        ["fc00::1"],
        ["8.8.8.8", "10.0.0.5"],
    ],
)
def test_destination_with_a_non_public_address_is_refused(addresses: list[str]) -> None:
    with pytest.raises(PolicyViolation, match="not a public address"):
        check_destination(STRICT, scheme="https", host="partner.example", addresses=addresses)


def test_https_destination_with_public_addresses_is_allowed() -> None:
    # when / then: no PolicyViolation
    check_destination(
        STRICT, scheme="https", host="partner.example", addresses=["93.184.215.14", "8.8.8.8"]
    )


def test_plain_http_to_a_public_host_not_allow_listed_is_refused() -> None:
    with pytest.raises(PolicyViolation, match="plain http"):
        check_destination(STRICT, scheme="http", host="partner.example", addresses=["8.8.8.8"])


@pytest.mark.parametrize(
    ("allowlist", "scheme", "host", "addresses"),
    [
        (("10.0.0.0/8",), "https", "erp.internal", ["10.1.2.3"]),
        (("10.0.0.0/8",), "http", "erp.internal", ["10.1.2.3"]),
        (("192.168.1.20",), "http", "192.168.1.20", ["192.168.1.20"]),
        (("fc00::/7",), "http", "erp.internal", ["fd00::5"]),
        (("[::1]",), "http", "::1", ["::1"]),
        (("ERP.internal",), "http", "erp.internal", ["10.1.2.3", "fd00::5"]),
    ],
)
def test_allow_listed_destinations_pass(
    allowlist: tuple[str, ...], scheme: str, host: str, addresses: list[str]
) -> None:
    policy = OutboundPolicy(allowlist=allowlist)
    # when / then: no PolicyViolation
    check_destination(policy, scheme=scheme, host=host, addresses=addresses)


def test_allow_listed_cidr_does_not_cover_other_private_addresses() -> None:
    policy = OutboundPolicy(allowlist=("10.0.0.0/8",))
    with pytest.raises(PolicyViolation, match=re.escape("192.168.0.1")):
        check_destination(
            policy, scheme="https", host="erp.internal", addresses=["10.1.2.3", "192.168.0.1"]
        )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" 127.0.0.1, localhost ,10.0.0.0/8,", ("127.0.0.1", "localhost", "10.0.0.0/8")),
        ("", ()),
        (["127.0.0.1", "a.example,b.example"], ("127.0.0.1", "a.example", "b.example")),
    ],
)
def test_policy_from_strings_splits_the_allow_list(
    raw: str | list[str], expected: tuple[str, ...]
) -> None:
    assert OutboundPolicy.from_strings(raw, read_timeout=2.5) == OutboundPolicy(
        allowlist=expected, read_timeout=2.5
    )


# -- retry helpers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "transient"),
    [
        (200, False),
        (302, False),
        (400, False),
        (404, False),
        (408, True),
        (429, True),
        (500, True),
        (503, True),
        (599, True),
    ],
)
def test_is_transient_status(status: int, transient: bool) -> None:
    assert is_transient_status(status) is transient


NOW = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "120"}, 120.0),
        ({"retry-after": " 7 "}, 7.0),
        ({"Retry-After": "0"}, 0.0),
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:30 GMT"}, 30.0),
        ({"Retry-After": "Wed, 21 Oct 2015 07:20:00 GMT"}, 0.0),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "-5"}, None),
        ({"Retry-After": "1.5"}, None),
        ({"Retry-After": ""}, None),
        ({}, None),
    ],
)
def test_retry_after_seconds(
    headers: dict[str, str], expected: float | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(time, "time", NOW.timestamp)  # what urllib3 measures an HTTP-date from
    assert retry_after_seconds(headers) == expected


@pytest.mark.parametrize(
    ("attempt", "retry_after", "draw", "expected"),
    [
        (0, None, 0.5, 0.5),
        (3, None, 0.5, 4.0),
        (3, None, 0.0, 0.0),
        (20, None, 0.5, 150.0),  # capped at 300 before jitter
        (20, None, 1.0, 300.0),
        (10_000, None, 1.0, 300.0),  # no overflow for absurd attempts
        (4, 1.0, 1.0, 16.0),  # jitter above Retry-After
        (1, 10.0, 0.5, 10.0),  # never sooner than Retry-After
        (20, 1000.0, 1.0, 1000.0),  # Retry-After beyond the cap wins
        (20, 99_999.0, 1.0, 3600.0),  # up to one hour
    ],
)
def test_backoff_delay(
    attempt: int, retry_after: float | None, draw: float, expected: float
) -> None:
    assert backoff_delay(attempt, retry_after=retry_after, rng=lambda: draw) == expected
