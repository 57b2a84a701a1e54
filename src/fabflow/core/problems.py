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


def problem_response(
    status: int,
    detail: str = "",
    *,
    errors: Sequence[dict[str, Any]] = (),
    title: str | None = None,
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail or HTTPStatus(status).phrase,
    }
    if errors:
        body["errors"] = list(errors)
    response = HttpResponse(
        json.dumps(body, ensure_ascii=True), status=status, content_type=PROBLEM_CONTENT_TYPE
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def from_api_error(exc: ApiError) -> HttpResponse:
    return problem_response(
        exc.status, exc.detail, errors=exc.errors, title=exc.title, headers=exc.headers
    )
