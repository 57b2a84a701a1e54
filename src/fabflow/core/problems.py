"""RFC 9457 problem details: the one error shape of the API."""

from __future__ import annotations

import json
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from django.http import HttpResponse

PROBLEM_CONTENT_TYPE = "application/problem+json"


class ApiError(Exception):
    """An error the API answers with a problem document; raised by services and endpoints."""

    def __init__(
        self,
        status: int,
        detail: str = "",
        *,
        errors: Sequence[dict[str, Any]] = (),
        title: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or HTTPStatus(status).phrase)
        self.status = status
        self.detail = detail
        self.errors = list(errors)
        self.title = title or HTTPStatus(status).phrase
        self.headers = headers or {}


def field_error(loc: Sequence[str | int], msg: str) -> dict[str, Any]:
    return {"loc": list(loc), "msg": msg}


def invalid(loc: Sequence[str | int], msg: str) -> ApiError:
    """A 422 naming one field."""
    return ApiError(422, msg, errors=[field_error(loc, msg)])


def problem_response(status: int, detail: str = "", **more: Any) -> HttpResponse:
    """The problem document of `ApiError(status, detail, **more)`."""
    return from_api_error(ApiError(status, detail, **more))


def from_api_error(exc: ApiError) -> HttpResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": exc.title,
        "status": exc.status,
        "detail": str(exc),
    }
    if exc.errors:
        body["errors"] = exc.errors
    response = HttpResponse(
        json.dumps(body, ensure_ascii=True), status=exc.status, content_type=PROBLEM_CONTENT_TYPE
    )
    for name, value in exc.headers.items():
        response[name] = value
    return response
