"""Outgoing HTTP under one policy: https, global addresses, timeouts, size caps, no redirects."""

import hashlib
import ipaddress
import random
import re
import socket
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, BinaryIO, NamedTuple
from urllib.parse import urlsplit

import urllib3
from urllib3 import BaseHTTPResponse, HTTPConnectionPool, HTTPHeaderDict, HTTPSConnectionPool
from urllib3 import exceptions as u3
from urllib3.util import Retry

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_RETRY_AFTER = 3600.0
CHUNK_SIZE = 64 * 1024
USER_AGENT = "Fabflow"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_RE = re.compile(r"[a-z0-9._-]+|[0-9a-f:.]+")


class OutboundError(Exception):
    """An outgoing request failed; `transient` says whether trying again later may succeed."""

    transient: bool = False


class PolicyViolation(OutboundError):
    """The URL or its destination is not allowed (scheme, address, credentials, malformed)."""


class ResponseTooLarge(OutboundError):
    """The response body exceeded the size cap; reading was aborted."""


class OutboundTimeout(OutboundError):
    """Connecting or waiting for data took longer than the policy's timeout."""

    transient = True


class OutboundConnectionError(OutboundError):
    """The host could not be resolved or reached, TLS failed, or the connection broke."""

    transient = True


class OutboundHTTPError(OutboundError):
    """A download answered with a non-2xx status."""

    def __init__(self, status: int, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"HTTP status {status}")
        self.status = status
        self.headers: Mapping[str, str] = headers if headers is not None else {}
        self.transient = is_transient_status(status)


@dataclass(frozen=True)
class OutboundPolicy:
    """Where Fabflow may send requests, and how long and how much it will wait for."""

    allowlist: tuple[str, ...] = ()  # host names, addresses and networks (CIDR)
    connect_timeout: float = 5
    read_timeout: float = 30
    max_response_bytes: int = 50 * 1024 * 1024

    def __post_init__(self) -> None:
        entries = tuple(entry.strip() for entry in self.allowlist if entry.strip())
        object.__setattr__(self, "allowlist", entries)
        if min(self.connect_timeout, self.read_timeout, self.max_response_bytes) <= 0:
            raise ValueError("timeouts and max_response_bytes must be positive")

    @classmethod
    def from_strings(cls, allowlist: str | Sequence[str], **limits: Any) -> "OutboundPolicy":
        """A policy from settings, whose allow-list entries may be comma-separated."""
        items = [allowlist] if isinstance(allowlist, str) else allowlist
        return cls(tuple(part for item in items for part in item.split(",")), **limits)

    def allows(self, host: str, ip: IPAddress) -> bool:
        """Whether an entry names `host` or holds `ip` (or the IPv4 address it wraps)."""
        return any(_entry_allows(entry, host.lower(), _unwrap(ip)) for entry in self.allowlist)


def _entry_allows(entry: str, host: str, ip: IPAddress) -> bool:
    try:
        return ip in ipaddress.ip_network(entry.strip("[]"), strict=False)
    except ValueError:  # not an address: a host name
        return entry.lower() == host


@dataclass(frozen=True)
class OutboundResponse:
    status: int
    headers: Mapping[str, str]  # case-insensitive
    body: bytes


class Download(NamedTuple):
    status: int
    headers: Mapping[str, str]
    size: int
    sha256: str


class _Target(NamedTuple):
    scheme: str
    host: str
    port: int
    path: str
    host_header: str


def _unwrap(ip: IPAddress) -> IPAddress:
    # An IPv6 address can carry an IPv4 one that is where the packets really go.
    if isinstance(ip, ipaddress.IPv6Address):
        return ip.ipv4_mapped or ip.sixtofour or ip
    return ip


def is_public_address(ip: str | IPAddress) -> bool:
    """True if `ip` is globally routable: not private, loopback, link-local, multicast, …"""
    addr = _unwrap(ipaddress.ip_address(ip))
    # is_global is false for the private, loopback, link-local and unspecified ranges; the
    # deprecated IPv6 site-local range (fec0::/10) still counts as global there.
    site_local = isinstance(addr, ipaddress.IPv6Address) and addr.is_site_local
    return addr.is_global and not (addr.is_multicast or addr.is_reserved or site_local)


def check_destination(
    policy: OutboundPolicy, *, scheme: str, host: str, addresses: Sequence[str | IPAddress]
) -> None:
    """Raise PolicyViolation unless `host`, resolved to `addresses`, may be reached by `scheme`."""
    if scheme not in _DEFAULT_PORTS:
        raise PolicyViolation(f"scheme {scheme!r} is not allowed")
    if not addresses:
        raise PolicyViolation(f"{host} resolved to no address")
    ips = [ipaddress.ip_address(a) for a in addresses]
    allowed = [policy.allows(host, ip) for ip in ips]
    if scheme == "http" and not all(allowed):
        raise PolicyViolation(f"plain http is only allowed to allow-listed hosts, not {host}")
    for ip, ok in zip(ips, allowed, strict=True):
        if not (ok or is_public_address(ip)):
            raise PolicyViolation(f"{host} resolves to {ip}, which is not a public address")


def _parse_url(url: str) -> _Target:
    # Messages never show the URL: URLs such as updateUrl may carry tokens in the query.
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise PolicyViolation("URL contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname or ""
        host = (host if host.isascii() else host.encode("idna").decode("ascii")).lower()
    except (ValueError, UnicodeError) as exc:
        raise PolicyViolation(f"malformed URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise PolicyViolation(f"scheme {scheme!r} is not allowed")
    if "@" in parts.netloc:
        raise PolicyViolation("credentials in URLs are not allowed")
    if not _HOST_RE.fullmatch(host):
        raise PolicyViolation(f"invalid host name {parts.hostname!r}")
    port = _DEFAULT_PORTS[scheme] if port is None else port
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if port == _DEFAULT_PORTS[scheme] else f"{shown}:{port}"
    return _Target(scheme, host, port, path, host_header)


def _resolve(target: _Target) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise OutboundConnectionError(f"cannot resolve {target.host}: {exc}") from None
    inet = (socket.AF_INET, socket.AF_INET6)
    found = [ipaddress.ip_address(str(info[4][0])) for info in infos if info[0] in inet]
    return list(dict.fromkeys(found))


def _translate(exc: Exception, where: str) -> OutboundError:
    if isinstance(exc, u3.ReadTimeoutError):
        return OutboundTimeout(f"timed out reading from {where}")
    if isinstance(exc, u3.NewConnectionError):  # a subclass of ConnectTimeoutError
        return OutboundConnectionError(f"cannot connect to {where}: {exc}")
    if isinstance(exc, u3.TimeoutError | TimeoutError):
        return OutboundTimeout(f"timed out connecting to {where}")
    if isinstance(exc, u3.SSLError):
        return OutboundConnectionError(f"TLS failure with {where}: {exc}")
    return OutboundConnectionError(f"connection to {where} failed: {exc}")


def _pool(policy: OutboundPolicy, target: _Target, ip: IPAddress) -> HTTPConnectionPool:
    timeout = urllib3.Timeout(connect=policy.connect_timeout, read=policy.read_timeout)
    if target.scheme == "http":
        return HTTPConnectionPool(str(ip), target.port, timeout=timeout, maxsize=1)
    return HTTPSConnectionPool(
        str(ip),
        target.port,
        timeout=timeout,
        maxsize=1,
        cert_reqs="CERT_REQUIRED",
        server_hostname=target.host,
        assert_hostname=target.host,
    )


@contextmanager
def _exchange(
    policy: OutboundPolicy,
    method: str,
    url: str,
    headers: Mapping[str, str] | None,
    body: bytes | None,
) -> Iterator[BaseHTTPResponse]:
    target = _parse_url(url)
    addresses = _resolve(target)
    check_destination(policy, scheme=target.scheme, host=target.host, addresses=addresses)
    sent = HTTPHeaderDict({"User-Agent": USER_AGENT})
    sent.update(headers or {})
    sent["Host"] = target.host_header  # replaces a caller's Host: it must match the URL
    where = f"{target.host}:{target.port}"
    # Connect to the addresses just checked, never re-resolving the name (DNS rebinding).
    for index, ip in enumerate(addresses, 1):
        pool = _pool(policy, target, ip)
        try:
            response = pool.urlopen(
                method.upper(),
                target.path,
                body=body,
                headers=sent,
                redirect=False,
                retries=False,
                preload_content=False,
            )
        except (u3.HTTPError, OSError) as exc:
            pool.close()
            # After a connect timeout nothing was sent: the next address is safe to try.
            if isinstance(exc, u3.ConnectTimeoutError) and index < len(addresses):
                continue
            raise _translate(exc, where) from exc
        try:
            yield response
            return
        except u3.HTTPError as exc:
            raise _translate(exc, where) from exc
        finally:
            response.close()
            pool.close()


def _read_capped(response: BaseHTTPResponse, cap: int, sink: Callable[[bytes], object]) -> int:
    announced = response.length_remaining  # Content-Length; None when unknown or chunked
    if announced is not None and announced > cap:
        raise ResponseTooLarge(f"response announces {announced} bytes, more than {cap}")
    size = 0
    for chunk in response.stream(CHUNK_SIZE):
        size += len(chunk)
        if size > cap:
            raise ResponseTooLarge(f"response body exceeds {cap} bytes")
        sink(chunk)
    return size


def request(
    policy: OutboundPolicy,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    max_bytes: int | None = None,
) -> OutboundResponse:
    """Send one request under `policy`; redirects come back as responses, never followed."""
    cap = policy.max_response_bytes if max_bytes is None else max_bytes
    chunks: list[bytes] = []
    with _exchange(policy, method, url, headers, body) as response:
        _read_capped(response, cap, chunks.append)
    return OutboundResponse(response.status, response.headers, b"".join(chunks))


def stream_download(
    policy: OutboundPolicy, url: str, dest: BinaryIO, *, max_bytes: int
) -> Download:
    """GET `url` into `dest` in chunks; on error `dest` may hold a partial body to discard."""
    digest = hashlib.sha256()

    def write(chunk: bytes) -> None:
        dest.write(chunk)
        digest.update(chunk)

    with _exchange(policy, "GET", url, None, None) as response:
        if not 200 <= response.status < 300:
            raise OutboundHTTPError(response.status, response.headers)
        size = _read_capped(response, max_bytes, write)
    return Download(response.status, response.headers, size, digest.hexdigest())


def is_transient_status(status: int) -> bool:
    """True for statuses worth retrying later: 408, 429 and 5xx."""
    return status in (408, 429) or 500 <= status <= 599


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), None if absent
    or invalid; urllib3's `Retry` reads it."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    try:
        return None if value is None else float(Retry().parse_retry_after(value))
    except (u3.InvalidHeader, ValueError, OverflowError):
        return None


@dataclass(frozen=True)
class RetrySchedule:
    """When to retry a transient failure (docs/flows.md#retries): delays from `first`, times
    `factor` up to `cap`, each shortened by up to `jitter` of itself, for `budget` seconds, the
    last retry on the end of the budget; `max_attempts` (0: none) stops earlier by count."""

    first: float = 10.0
    factor: float = 2.0
    cap: float = 900.0
    budget: float = 6 * 3600.0
    jitter: float = 0.5
    max_attempts: int = 0

    @classmethod
    def from_settings(cls, *, max_attempts: int = 0) -> "RetrySchedule":
        from django.conf import settings

        return cls(
            first=settings.FABFLOW_RETRY_FIRST_DELAY,
            factor=settings.FABFLOW_RETRY_FACTOR,
            cap=settings.FABFLOW_RETRY_MAX_DELAY,
            budget=settings.FABFLOW_RETRY_FOR_SECONDS,
            jitter=settings.FABFLOW_RETRY_JITTER,
            max_attempts=max_attempts,
        )

    def delay(
        self,
        failures: int,
        *,
        retry_after: float | None = None,
        rng: Callable[[], float] = random.random,
    ) -> float:
        """Seconds to wait after the `failures`-th failed attempt (1 for the first);
        a `Retry-After` (at most an hour) wins when it asks for longer."""
        step = self.first * self.factor ** min(max(failures - 1, 0), 64)
        delay = min(self.cap, step) * (1.0 - min(max(self.jitter, 0.0), 1.0) * rng())
        if retry_after is None:
            return delay
        return max(delay, min(max(retry_after, 0.0), MAX_RETRY_AFTER))

    def next_attempt(
        self,
        failures: int,
        *,
        first_at: datetime,
        now: datetime,
        retry_after: float | None = None,
        rng: Callable[[], float] = random.random,
    ) -> datetime | None:
        """When to try again after `failures` failed attempts that began at `first_at`;
        None once the budget (or `max_attempts`) is spent."""
        end = first_at + timedelta(seconds=self.budget)
        if now >= end or (self.max_attempts and failures >= self.max_attempts):
            return None
        wait = self.delay(failures, retry_after=retry_after, rng=rng)
        return min(now + timedelta(seconds=wait), end)


def backoff_delay(
    attempt: int,
    *,
    base: float = 1.0,
    cap: float = 300.0,
    retry_after: float | None = None,
    rng: Callable[[], float] = random.random,
) -> float:
    """Seconds before retry number `attempt` (0 for the first): doubling from `base` up to
    `cap`, with full jitter; a Retry-After wins."""
    full_jitter = RetrySchedule(first=base, cap=cap, jitter=1.0)
    return full_jitter.delay(attempt + 1, retry_after=retry_after, rng=lambda: 1.0 - rng())
