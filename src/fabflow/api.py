"""The REST API: one NinjaAPI, its routers, authentication and problem+json error handlers."""

from __future__ import annotations

import logging
from datetime import datetime
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.exceptions import BadRequest, RequestDataTooBig
from django.db import connection
from django.db.utils import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.urls import URLPattern
from django.utils import timezone
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from fabflow import __version__
from fabflow.accounts.auth import SecretKeyBearer, UserSession
from fabflow.connectors.api import router as connectors_router
from fabflow.connectors.siteflow.postbacks import router as siteflow_router
from fabflow.core.errors import Conflict, DomainError, Invalid, NotFound, TooLarge
from fabflow.core.jsonbody import StrictJSONParser
from fabflow.core.openapi import publish
from fabflow.core.problems import ApiError, field_error, from_api_error, problem_response
from fabflow.flows.api import router as flows_router
from fabflow.orders.api import router as orders_router
from fabflow.production.api import router as production_router
from fabflow.production.slicing_api import router as slicing_router

log = logging.getLogger(__name__)
# The answer to each kind of domain error (core/errors.py); the first match wins.
DOMAIN_STATUS: dict[type[DomainError], int] = {
    Invalid: 422,
    Conflict: 409,
    NotFound: 404,
    TooLarge: 413,
    DomainError: 400,
}


class FabflowAPI(NinjaAPI):
    def get_openapi_schema(self, **kwargs: Any) -> Any:
        from fabflow.flows.handlers.registry import payload_models

        return publish(dict(super().get_openapi_schema(**kwargs)), payload_models())

    def _get_urls(self) -> Any:
        urls = super()._get_urls()
        for url in urls:
            if isinstance(url, URLPattern):
                url.callback = _problem_405(url.callback)
        return urls


def _problem_405(view: Any) -> Any:
    """Ninja answers a method a path lacks in plain text: here a problem document."""

    @wraps(view)  # keeps the view's csrf_exempt
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        response = view(request, *args, **kwargs)
        if not isinstance(response, HttpResponseNotAllowed):
            return response
        detail = f"{request.method} is not allowed here; allowed: {response['Allow']}."
        return problem_response(405, detail, headers={"Allow": response["Allow"]})

    return wrapped


api = FabflowAPI(
    title="Fabflow API",
    version="1",
    description="Order management for digital manufacturing. Authenticate with "
    "`Authorization: Bearer <secret key>`; errors are `application/problem+json`.",
    urls_namespace="api-1",
    parser=StrictJSONParser(),
    auth=[SecretKeyBearer(), UserSession()],
    openapi_url="/openapi.json",
    docs_url="/docs",
)
api.add_router("/v1/", orders_router)
api.add_router("/v1/", flows_router)
api.add_router("/v1/", connectors_router)
api.add_router("/v1/", siteflow_router)
api.add_router("/v1/", production_router)
api.add_router("/v1/", slicing_router)


def _age(now: datetime, since: datetime | None) -> float | None:
    return (now - since).total_seconds() if since else None


@api.get("/v1/health", auth=None, tags=["health"], operation_id="health")
def health(request: HttpRequest) -> HttpResponse:
    """Liveness, database reachability and the job queue's backlog (no auth)."""
    from fabflow.core.selectors import ready_jobs
    from fabflow.flows.engine.claims import due_runs

    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        now = timezone.now()
        ready = ready_jobs()
        oldest = ready.order_by("enqueued_at").values_list("enqueued_at", flat=True).first()
        due = due_runs(now)
        oldest_due = due.order_by("due_at").values_list("due_at", flat=True).first()
        body: dict[str, Any] = {
            "status": "ok",
            "version": __version__,
            "database": "ok",
            "jobs": {"ready": ready.count(), "oldestReadyAgeSeconds": _age(now, oldest)},
            # Flow runs due but held by no worker: a growing number means too few workers.
            "flows": {"due": due.count(), "oldestDueAgeSeconds": _age(now, oldest_due)},
        }
        status = 200
    except Exception as exc:
        log.warning("health check failed: %s", exc)
        body, status = {"status": "error", "database": "unreachable"}, 503
    return JsonResponse(body, status=status)


@api.exception_handler(ApiError)
def _api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
    return from_api_error(exc)


@api.exception_handler(DomainError)
def _domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    """A service's refusal, as a problem document with the status of its kind."""
    status = next(code for kind, code in DOMAIN_STATUS.items() if isinstance(exc, kind))
    headers = {}
    if isinstance(exc, Conflict) and exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    errors = [field_error(path, reason) for path, reason in exc.problems]
    return problem_response(status, exc.message, errors=errors, headers=headers)


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = [
        {"loc": _loc(e.get("loc", ())), "msg": str(e.get("msg", "invalid"))} for e in exc.errors
    ]
    return problem_response(422, "Some fields are invalid.", errors=errors[:100])


def _loc(loc: Any) -> list[Any]:
    """Ninja nests the body under the parameter's name; the contract says ["body", field]."""
    parts = list(loc)
    if parts[:2] == ["body", "payload"]:
        del parts[1]
    return parts


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    cause = exc.__cause__
    if isinstance(cause, ApiError | RequestDataTooBig):  # raised inside the body's parser
        return api.on_exception(request, cause)
    if cause is not None:
        return problem_response(
            400,
            f"Malformed JSON body: {_short(cause)}",
            errors=[{"loc": ["body"], "msg": _short(cause)}],
        )
    return problem_response(exc.status_code, str(exc))


def _short(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nesting too deep"
    return str(exc).splitlines()[0][:200] or exc.__class__.__name__


@api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, exc: Exception) -> HttpResponse:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return problem_response(413, f"The request body is larger than {limit} bytes.")


@api.exception_handler(MultiPartParserError)
@api.exception_handler(BadRequest)
def _bad_request(request: HttpRequest, exc: Exception) -> HttpResponse:
    return problem_response(400, f"Malformed request: {_short(exc)}")


@api.exception_handler(AuthenticationError)
def _unauthorized(request: HttpRequest, exc: Exception) -> HttpResponse:
    return problem_response(
        401,
        "A valid secret key is required: Authorization: Bearer <key>.",
        headers={"WWW-Authenticate": 'Bearer realm="fabflow"'},
    )


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
    return problem_response(404, "Not found.")


# Seconds a client should wait before retrying while the database is unreachable.
DATABASE_RETRY_AFTER = 5


@api.exception_handler(OperationalError)
@api.exception_handler(InterfaceError)
def _database_unavailable(request: HttpRequest, exc: Exception) -> HttpResponse:
    """The database is down, restarting or locked: a retryable 503, never a 500.

    No reconnect here: Django closes a connection that raised and no longer answers when the
    request finishes, and CONN_HEALTH_CHECKS pings a reused one when the next request starts,
    so the process recovers by itself once the database is back."""
    log.warning("database unavailable on %s %s: %s", request.method, request.path, _short(exc))
    return problem_response(
        503,
        "The database is unavailable; retry shortly.",
        headers={"Retry-After": str(DATABASE_RETRY_AFTER)},
    )


@api.exception_handler(Exception)
def _server_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    log.exception("unhandled error on %s %s", request.method, request.path)
    return problem_response(500, "An unexpected error occurred; it has been logged.")
