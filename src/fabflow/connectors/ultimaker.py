"""`ultimaker-print`: prints a G-code asset on an Ultimaker printer through its local HTTP API.

The printer's API (`/api/v1`, the one Cura's UM3NetworkPrinting plugin speaks):

- `GET /printer/status`: a JSON string, `"idle"`, `"printing"`, `"error"`, `"maintenance"`,
  `"booting"`. Only an idle printer takes a new job.
- `GET /print_job`: the current job (`name`, `uuid`, `state`, `result`, `progress`,
  `time_elapsed`, `time_total`, `datetime_started`, `datetime_finished`), 404 when there is none.
  `state` goes `pre_print` -> `printing` -> `post_print` -> `wait_cleanup` (the build plate must
  be cleared), with `pausing`, `paused`, `resuming` and `wait_user_action` on the way; `result`
  is `""` while it runs, then `"Finished"`, `"Aborted"` or `"Failed"`.
- `GET /history/print_jobs?offset=0&count=N`: the jobs that ended (same fields).
- `POST /print_job`: multipart `jobname` + `file` (the G-code), HTTP digest authentication.
- `POST /auth/request` -> `{"id", "key"}` (approved on the printer's screen), `GET
  /auth/check/{id}`, `GET /auth/verify` (digest: 200 when the id/key pair is accepted).

Reading is open; any change (starting a job) needs digest authentication with the id/key pair as
user name and password (realm `Jedi-API-Digest`).

Handler state between calls: the engine keeps none for a handler, so the job's name is the state.
It is derived from the task run (`<jobName> <first 8 characters of the run id>`): every call first
looks for a job of that name on the printer (current job, then history) and follows it; only when
there is none, and the printer is idle, is the G-code uploaded. A crash, a lost reply or a retry
therefore never prints twice; a staff retry is a new task run, so it prints again.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit

import urllib3
from pydantic import Field

from fabflow.connectors import services, testing
from fabflow.connectors.models import Connection, ConnectionKind
from fabflow.connectors.testing import TestResult
from fabflow.core import outbound
from fabflow.flows.engine.effects import policy_http
from fabflow.flows.handlers import registry
from fabflow.flows.handlers.base import (
    AssetRef,
    Failed,
    Handler,
    HandlerContext,
    Outcome,
    PermanentError,
    RetryLater,
    Succeeded,
    TransientError,
    Waiting,
)
from fabflow.flows.handlers.payloads import Name, PayloadModel, Regex, TemplateKind, template

API = "/api/v1"
REALM = "Jedi-API-Digest"
HISTORY_COUNT = 50
ASSET_POLL_S = 5.0
JOB_NAME_MAX = 80


class UltimakerPrintPayload(PayloadModel):
    """`ultimaker-print`: sends one G-code asset to the printer of `connection` and follows it."""

    connection: Name
    filter: Regex = r"\.gcode$"
    jobName: Annotated[str, Field(min_length=1, max_length=200)] = template(
        TemplateKind.HEADER, "{order.name}"
    )
    pollSeconds: Annotated[int, Field(ge=1, le=3600)] = 30


# HTTP digest authentication ------------------------------------------------------------------
#
# Written here because the side effect must go through `Services.http` (the outbound policy),
# which takes plain headers. The maintained clients do not fit: urllib's digest handler needs
# its own opener and request objects and knows only MD5 and SHA-1, requests' HTTPDigestAuth
# keeps the challenge in private per-thread state; newer Ultimaker firmware answers SHA-256.
# RFC 7616: MD5 and SHA-256 (and their -sess forms), qop "auth" or none.

_HASHES: dict[str, Callable[[bytes], Any]] = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}


@dataclass(frozen=True)
class Challenge:
    """A parsed `WWW-Authenticate: Digest ...` header."""

    realm: str
    nonce: str
    qop: str | None = None
    algorithm: str = "MD5"
    opaque: str | None = None
    stale: bool = False

    @classmethod
    def parse(cls, header: str | None) -> Challenge | None:
        scheme, _, rest = (header or "").strip().partition(" ")
        if scheme.lower() != "digest":
            return None
        params = {
            k.lower(): v
            for k, v in urllib.request.parse_keqv_list(urllib.request.parse_http_list(rest)).items()
        }
        if "realm" not in params or "nonce" not in params:
            return None
        return cls(
            realm=params["realm"],
            nonce=params["nonce"],
            qop=params.get("qop"),
            algorithm=params.get("algorithm", "MD5"),
            opaque=params.get("opaque"),
            stale=params.get("stale", "").lower() == "true",
        )

    def authorization(
        self, method: str, uri: str, user: str, password: str, *, nc: int, cnonce: str = ""
    ) -> str:
        """The `Authorization` header answering this challenge for request number `nc` with
        this nonce (`cnonce`: random unless given)."""
        base = self.algorithm.upper().removesuffix("-SESS")
        if base not in _HASHES:
            raise Stop(Failed(f"the printer asks for an unsupported digest ({self.algorithm})"))

        def h(text: str) -> str:
            return str(_HASHES[base](text.encode()).hexdigest())

        cnonce, count = cnonce or secrets.token_hex(16), f"{nc:08x}"
        ha1 = h(f"{user}:{self.realm}:{password}")
        if self.algorithm.upper().endswith("-SESS"):
            ha1 = h(f"{ha1}:{self.nonce}:{cnonce}")
        ha2 = h(f"{method}:{uri}")
        qops = [q.strip() for q in (self.qop or "").split(",") if q.strip()]
        if self.qop is None:
            response = h(f"{ha1}:{self.nonce}:{ha2}")
        elif "auth" in qops:
            response = h(f"{ha1}:{self.nonce}:{count}:{cnonce}:auth:{ha2}")
        else:
            raise Stop(Failed(f"the printer asks for an unsupported digest qop ({self.qop})"))
        fields = [
            f'username="{_quoted(user)}"',
            f'realm="{_quoted(self.realm)}"',
            f'nonce="{_quoted(self.nonce)}"',
            f'uri="{_quoted(uri)}"',
            f"algorithm={self.algorithm}",
            f'response="{response}"',
        ]
        if self.opaque is not None:
            fields.append(f'opaque="{_quoted(self.opaque)}"')
        if self.qop is not None:
            fields += ["qop=auth", f"nc={count}", f'cnonce="{cnonce}"']
        return "Digest " + ", ".join(fields)


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


# The printer -----------------------------------------------------------------------------------


class Stop(Exception):
    """Ends the handler's call with `outcome`."""

    def __init__(self, outcome: Outcome, *, status: int = 0) -> None:
        super().__init__(getattr(outcome, "reason", "") or getattr(outcome, "message", ""))
        self.outcome = outcome
        self.status = status  # the printer's HTTP status that decided it, if any


Http = Callable[..., Any]


@dataclass
class Printer:
    """One printer's API through an `http(method, url, headers=, body=)` callable that raises
    TransientError / PermanentError (Services.http, or the outbound policy for the tester)."""

    name: str
    base_url: str
    user: str
    password: str
    http: Http
    challenge: Challenge | None = field(default=None, repr=False)
    nonce_count: int = 0

    @classmethod
    def of(cls, connection: Connection, http: Http) -> Printer:
        credentials = connection.credentials if isinstance(connection.credentials, dict) else {}
        user, password = credentials.get("id"), credentials.get("key")
        if not (isinstance(user, str) and user and isinstance(password, str) and password):
            raise Stop(Failed(f"connection {connection.name} has no printer id/key credentials"))
        return cls(connection.name, connection.base_url.rstrip("/"), user, password, http)

    def url(self, path: str) -> str:
        return f"{self.base_url}{API}{path}"

    def send(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        authenticate: bool = False,
    ) -> outbound.OutboundResponse:
        """One request; with `authenticate`, digest-signed with a challenge fetched first (so a
        large upload is sent once). A 401 with a challenge is answered once, if it is the first
        one or the printer says the nonce went stale; another 401 means the pair is refused."""
        url = self.url(path)
        if authenticate and self.challenge is None:
            self._use(self._fresh_challenge())
        signed = self.challenge is not None
        response = self._call(method, url, body, headers)
        if response.status == 401:
            challenge = Challenge.parse(response.headers.get("WWW-Authenticate"))
            if challenge is not None and (not signed or challenge.stale):
                self._use(challenge)
                response = self._call(method, url, body, headers)
        if response.status == 401:
            raise Stop(
                Failed(f"printer refused the credentials (digest auth): {_said(response)}"),
                status=401,
            )
        return response

    def _use(self, challenge: Challenge | None) -> None:
        self.challenge, self.nonce_count = challenge, 0

    def _fresh_challenge(self) -> Challenge | None:
        """A digest challenge from `GET /auth/verify` sent without credentials (None if the
        printer does not ask for any)."""
        self._use(None)
        response = self._call("GET", self.url("/auth/verify"), None, None)
        if response.status == 401:
            challenge = Challenge.parse(response.headers.get("WWW-Authenticate"))
            if challenge is None:
                raise Stop(Failed(f"printer asks for an unknown authentication: {_said(response)}"))
            return challenge
        self.check(response, "GET /auth/verify")
        return None

    def _call(
        self, method: str, url: str, body: bytes | None, headers: Mapping[str, str] | None
    ) -> outbound.OutboundResponse:
        sent = {"Accept": "application/json", **(headers or {})}
        if self.challenge is not None:
            self.nonce_count += 1
            parts = urlsplit(url)
            uri = parts.path + (f"?{parts.query}" if parts.query else "")
            sent["Authorization"] = self.challenge.authorization(
                method.upper(), uri, self.user, self.password, nc=self.nonce_count
            )
        try:
            response: outbound.OutboundResponse = self.http(method, url, headers=sent, body=body)
        except TransientError as exc:
            reason = f"printer {self.name} unreachable: {exc}"
            raise Stop(RetryLater(reason, exc.retry_after_s)) from None
        except PermanentError as exc:
            raise Stop(Failed(f"printer {self.name}: {exc}")) from None
        return response

    def check(self, response: outbound.OutboundResponse, what: str) -> None:
        status = response.status
        if outbound.is_transient_status(status):
            retry_after = outbound.retry_after_seconds(response.headers)
            raise Stop(RetryLater(f"printer answered {what} with {_said(response)}", retry_after))
        if not 200 <= status < 300:
            raise Stop(Failed(f"printer answered {what} with {_said(response)}"))

    def json(self, path: str, *, missing_ok: bool = False) -> Any:
        """The JSON answer of `GET path`; None for a 404 when `missing_ok`."""
        response = self.send("GET", path)
        if missing_ok and response.status == 404:
            return None
        self.check(response, f"GET {path}")
        try:
            return json.loads(response.body)
        except ValueError:
            raise Stop(RetryLater(f"printer answered GET {path} with no JSON")) from None

    def status(self) -> str:
        value = self.json("/printer/status")
        return value if isinstance(value, str) else str(value)

    def current_job(self) -> dict[str, Any] | None:
        job = self.json("/print_job", missing_ok=True)
        return job if isinstance(job, dict) else None

    def ended_job(self, name: str) -> dict[str, Any] | None:
        jobs = self.json(f"/history/print_jobs?offset=0&count={HISTORY_COUNT}", missing_ok=True)
        found = [j for j in jobs or [] if isinstance(j, dict) and j.get("name") == name]
        return found[0] if found else None

    def upload(self, job_name: str, filename: str, gcode: bytes) -> outbound.OutboundResponse:
        body, content_type = urllib3.encode_multipart_formdata(
            {"jobname": job_name, "file": (filename, gcode, "text/x-gcode")}
        )
        return self.send(
            "POST",
            "/print_job",
            body=body,
            headers={"Content-Type": content_type},
            authenticate=True,
        )


def _said(response: outbound.OutboundResponse) -> str:
    """HTTP status and the start of the printer's message."""
    text = " ".join(response.body[:2000].decode("utf-8", "replace").split())
    try:
        data = json.loads(response.body)
        if isinstance(data, dict) and isinstance(data.get("message"), str):
            text = data["message"]
    except ValueError:
        pass
    return f"HTTP {response.status}" + (f": {text[:300]}" if text else "")


# The handler -----------------------------------------------------------------------------------


def job_name(rendered: str, run_id: str) -> str:
    """The job's name on the printer: the payload's name and the task run's id (see above)."""
    return f"{' '.join(rendered.split())[:JOB_NAME_MAX]} {run_id[:8]}".strip()


def _job_info(job: Mapping[str, Any], printer: Printer, asset: str) -> dict[str, Any]:
    elapsed, total = job.get("time_elapsed"), job.get("time_total")
    return {
        "printer": printer.name,
        "asset": asset,
        "jobName": job.get("name"),
        "jobUuid": job.get("uuid"),
        "result": job.get("result"),
        "printTimeS": int(elapsed) if isinstance(elapsed, int | float) else None,
        "estimatedTimeS": int(total) if isinstance(total, int | float) else None,
        "startedAt": job.get("datetime_started"),
        "finishedAt": job.get("datetime_finished"),
    }


class UltimakerPrint(Handler):
    key = "ultimaker-print"
    payload_model = UltimakerPrintPayload
    title = "Print on an Ultimaker printer"

    def run(self, ctx: HandlerContext) -> Outcome:
        try:
            return self._run(ctx)
        except Stop as stop:
            return stop.outcome

    def _run(self, ctx: HandlerContext) -> Outcome:
        payload = ctx.payload
        if not isinstance(payload, UltimakerPrintPayload):
            raise TypeError(f"expected an UltimakerPrintPayload, got {type(payload).__name__}")
        try:
            connection = services.connection_for(
                ctx.order["spaceKey"], payload.connection, ConnectionKind.ULTIMAKER
            )
        except PermanentError as exc:
            return Failed(str(exc))
        asset = self._asset(ctx, payload)
        try:
            name = job_name(ctx.services.render(payload.jobName, header=True), ctx.task.id)
        except ValueError as exc:
            return Failed(f"jobName: {exc}")
        printer = Printer.of(connection, ctx.services.http)
        poll = ctx.now + timedelta(seconds=payload.pollSeconds)

        current = printer.current_job()
        if current is not None and current.get("name") == name:
            return self._follow(current, printer, asset, poll)
        ended = printer.ended_job(name)
        if ended is not None:
            return self._follow(ended, printer, asset, poll)
        if current is not None:
            other = current.get("name") or "another job"
            return Waiting(until=poll, message=f"printer busy ({current.get('state')}: {other})")
        status = printer.status()
        if status != "idle":
            return Waiting(until=poll, message=f"printer busy ({status})")

        try:
            gcode = ctx.services.read_asset(asset.id)
        except PermanentError as exc:
            return Failed(str(exc))
        response = printer.upload(name, asset.name, gcode)
        if response.status in (405, 409):  # taken by someone else since we looked
            return Waiting(until=poll, message=f"printer busy ({_said(response)})")
        printer.check(response, "POST /print_job")
        return Waiting(until=poll, message=f"sent {asset.name} to printer {printer.name} as {name}")

    def _asset(self, ctx: HandlerContext, payload: UltimakerPrintPayload) -> AssetRef:
        found = ctx.services.assets(payload.filter)
        if found:
            return found[0]
        pending, failed = ctx.services.unfetched_assets(payload.filter)
        if failed:
            name, reason = next(iter(failed.items()))
            raise Stop(Failed(f"asset {name} could not be fetched: {reason}"))
        if pending:
            until = ctx.now + timedelta(seconds=ASSET_POLL_S)
            raise Stop(Waiting(until=until, message=f"waiting for {pending[0]} to be fetched"))
        raise Stop(Failed(f"no ready asset matches the filter {payload.filter!r}"))

    def _follow(
        self, job: Mapping[str, Any], printer: Printer, asset: AssetRef, poll: datetime
    ) -> Outcome:
        result, name = job.get("result") or "", job.get("name")
        if result == "Finished":
            info = _job_info(job, printer, asset.name)
            return Succeeded(result=info, message=f"printed on {printer.name} as {name}")
        if result:
            return Failed(f"print job aborted by the printer: {name} ended {result}")
        # The job's state, not its percentage: the timeline records each new message.
        return Waiting(until=poll, message=f"printing {name} ({job.get('state')})")


# The connection test ---------------------------------------------------------------------------


def check_connection(connection: Connection, http: Http = policy_http) -> TestResult:
    """`GET /auth/verify` with digest authentication: whether the printer accepts the pair."""
    try:
        printer = Printer.of(connection, http)
        response = printer.send("GET", "/auth/verify", authenticate=True)
    except Stop as stop:
        return TestResult(False, stop.status or None, str(stop))
    ok = 200 <= response.status < 300
    message = "the printer accepts the id/key pair" if ok else _said(response)
    return TestResult(ok, response.status, message)


def register() -> None:
    """From ConnectorsConfig.ready(): the handler and the connection test of this kind."""
    registry.register(UltimakerPrint)
    testing.register_tester(ConnectionKind.ULTIMAKER, check_connection)
