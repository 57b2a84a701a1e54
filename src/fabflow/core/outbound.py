"""Outgoing HTTP under one policy: https, global addresses, timeouts, size caps, no redirects."""

import email.utils
import hashlib
import ipaddress
import random
import re
import socket
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import BinaryIO, NamedTuple
from urllib.parse import urlsplit

import urllib3
from urllib3 import BaseHTTPResponse, HTTPConnectionPool, HTTPHeaderDict, HTTPSConnectionPool
from urllib3 import exceptions as u3

__all__ = [
    "Download",
    "OutboundConnectionError",
    "OutboundError",
    "OutboundHTTPError",
    "OutboundPolicy",
    "OutboundResponse",
    "OutboundTimeout",
    "PolicyViolation",
    "ResponseTooLarge",
    "RetrySchedule",
    "backoff_delay",
    "check_destination",
    "is_public_address",
    "is_transient_status",
    "request",
    "retry_after_seconds",
    "stream_download",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

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

    allowlist: tuple[str, ...] = ()
    connect_timeout: float = 5
    read_timeout: float = 30
    max_response_bytes: int = 50 * 1024 * 1024

    def __post_init__(self) -> None:
        entries = tuple(entry.strip() for entry in self.allowlist if entry.strip())
        object.__setattr__(self, "allowlist", entries)
        if min(self.connect_timeout, self.read_timeout, self.max_response_bytes) <= 0:
            raise ValueError("timeouts and max_response_bytes must be positive")

    @classmethod
    def from_strings(
        cls,
        allowlist: str | list[str],
        *,
        connect_timeout: float | str = 5,
        read_timeout: float | str = 30,
        max_response_bytes: int | str = 50 * 1024 * 1024,
    ) -> "OutboundPolicy":
        """Build a policy from settings, the allow-list being comma-separated."""
        items = [allowlist] if isinstance(allowlist, str) else allowlist
        entries = tuple(part for item in items for part in item.split(","))
        return cls(entries, float(connect_timeout), float(read_timeout), int(max_response_bytes))

    @cached_property
    def _networks(self) -> tuple[IPNetwork, ...]:
        return tuple(net for entry in self.allowlist if (net := _as_network(entry)) is not None)

    @cached_property
    def _names(self) -> frozenset[str]:
        return frozenset(e.lower() for e in self.allowlist if _as_network(e) is None)

    def allows_name(self, host: str) -> bool:
        return host.lower() in self._names

    def allows_address(self, ip: IPAddress) -> bool:
        unwrapped = _unwrap(ip)
        return any(unwrapped in network for network in self._networks)


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


def _as_network(entry: str) -> IPNetwork | None:
    try:
        return ipaddress.ip_network(entry.strip("[]"), strict=False)
    except ValueError:
        return None


def _unwrap(ip: IPAddress) -> IPAddress:
    # An IPv6 address can carry an IPv4 one that is where the packets really go.
    if isinstance(ip, ipaddress.IPv6Address):
        return ip.ipv4_mapped or ip.sixtofour or ip
    return ip


def is_public_address(ip: str | IPAddress) -> bool:
    """True if `ip` is globally routable: not private, loopback, link-local, multicast, …"""
    addr = _unwrap(ipaddress.ip_address(ip) if isinstance(ip, str) else ip)
    special = (
        addr.is_multicast
        or addr.is_reserved
        or addr.is_unspecified
        or addr.is_loopback
        or addr.is_link_local
        or addr.is_private
    )
    return addr.is_global and not special


def check_destination(
    policy: OutboundPolicy, *, scheme: str, host: str, addresses: Sequence[str | IPAddress]
) -> None:
    """Raise PolicyViolation unless `host`, resolved to `addresses`, may be reached by `scheme`."""
    if scheme not in _DEFAULT_PORTS:
        raise PolicyViolation(f"scheme {scheme!r} is not allowed")
    if not addresses:
        raise PolicyViolation(f"{host} resolved to no address")
    ips = [ipaddress.ip_address(a) if isinstance(a, str) else a for a in addresses]
    named = policy.allows_name(host)
    if scheme == "http" and not (named or all(policy.allows_address(ip) for ip in ips)):
        raise PolicyViolation(f"plain http is only allowed to allow-listed hosts, not {host}")
    for ip in ips:
        if not (named or policy.allows_address(ip) or is_public_address(ip)):
            raise PolicyViolation(f"{host} resolves to {ip}, which is not a public address")


def _parse_url(url: str) -> _Target:
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise PolicyViolation("URL contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise PolicyViolation(f"malformed URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise PolicyViolation(f"scheme {scheme!r} is not allowed")
    if "@" in parts.netloc:
        raise PolicyViolation("credentials in URLs are not allowed")
    host = _ascii_host(parts.hostname or "")
    port = _DEFAULT_PORTS[scheme] if port is None else port
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if port == _DEFAULT_PORTS[scheme] else f"{shown}:{port}"
    return _Target(scheme, host, port, path, host_header)


def _ascii_host(host: str) -> str:
    try:
        ascii_host = host if host.isascii() else host.encode("idna").decode("ascii")
    except UnicodeError:
        raise PolicyViolation(f"invalid host name {host!r}") from None
    ascii_host = ascii_host.lower()
    if not _HOST_RE.fullmatch(ascii_host):
        raise PolicyViolation(f"invalid host name {host!r}")
    return ascii_host


def _resolve(target: _Target) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise OutboundConnectionError(f"cannot resolve {target.host}: {exc}") from None
    addresses: list[IPAddress] = []
    for family, *_, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6):
            ip = ipaddress.ip_address(str(sockaddr[0]))
            if ip not in addresses:
                addresses.append(ip)
    return addresses


def _translate(exc: Exception, target: _Target) -> OutboundError:
    # Messages name host and port only: URLs such as updateUrl may carry tokens in the query.
    where = f"{target.host}:{target.port}"
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
    if target.scheme == "https":
        return HTTPSConnectionPool(
            str(ip),
            target.port,
            timeout=timeout,
            retries=False,
            maxsize=1,
            cert_reqs="CERT_REQUIRED",
            server_hostname=target.host,
            assert_hostname=target.host,
        )
    return HTTPConnectionPool(str(ip), target.port, timeout=timeout, retries=False, maxsize=1)


def _connect(
    policy: OutboundPolicy,
    target: _Target,
    addresses: list[IPAddress],
    method: str,
    headers: HTTPHeaderDict,
    body: bytes | None,
) -> tuple[HTTPConnectionPool, BaseHTTPResponse]:
    # Connect to the addresses already checked, never re-resolving the name (DNS rebinding).
    last_error: Exception = OutboundConnectionError(f"no address for {target.host}")
    for ip in addresses:
        pool = _pool(policy, target, ip)
        try:
            response = pool.urlopen(
                method,
                target.path,
                body=body,
                headers=headers,
                redirect=False,
                retries=False,
                preload_content=False,
            )
            return pool, response
        except u3.ConnectTimeoutError as exc:  # nothing was sent: the next address is safe
            pool.close()
            last_error = exc
        except (u3.HTTPError, OSError) as exc:
            pool.close()
            raise _translate(exc, target) from exc
    raise _translate(last_error, target) from last_error


def _request_headers(headers: Mapping[str, str] | None, target: _Target) -> HTTPHeaderDict:
    merged = HTTPHeaderDict({"User-Agent": USER_AGENT})
    merged.update(headers or {})
    merged["Host"] = target.host_header  # replaces a caller's Host: it must match the URL
    return merged


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
    request_headers = _request_headers(headers, target)
    pool, response = _connect(policy, target, addresses, method.upper(), request_headers, body)
    try:
        yield response
    except u3.HTTPError as exc:
        raise _translate(exc, target) from exc
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


def retry_after_seconds(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), None if absent."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    now = now or datetime.now(UTC)
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    now = now if now.tzinfo else now.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def backoff_delay(
    attempt: int,
    *,
    base: float = 1.0,
    cap: float = 300.0,
    retry_after: float | None = None,
    rng: Callable[[], float] = random.random,
) -> float:
    """Seconds before retry number `attempt` (0 for the first): full jitter, Retry-After wins."""
    ceiling = min(cap, base * 2.0 ** min(max(attempt, 0), 64))
    delay = rng() * ceiling
    if retry_after is None:
        return delay
    return max(delay, min(max(retry_after, 0.0), MAX_RETRY_AFTER))


@dataclass(frozen=True)
class RetrySchedule:
    """When to try a transient failure again, and when to stop: exponential delays (`first`,
    times `factor` each time, at most `cap` seconds, each shortened by up to `jitter` of itself
    so that the retries of many orders spread out) for `budget` seconds after the first attempt.
    The last retry falls on the end of the budget, so an outage shorter than the budget never
    fails anything. `max_attempts` (0: none) stops earlier by count.

    urllib3's `Retry` computes its backoff from a request history, fixes the factor at 2 and
    has no time budget; the schedule is these few lines, and the waiting is always a timer of
    the caller (a task run's `wake_at`, a job's `run_after`), never a sleep.
    """

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
