"""Middleware: request size limit, Content-Security-Policy, and the person's time zone."""

from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from fabflow.core.problems import problem_response


class _Middleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response


class RequestSizeLimit(_Middleware):
    """413 for API requests whose Content-Length is over the upload limit."""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return problem_response(400, "Invalid Content-Length header.")
            limit = max(settings.FABFLOW_MAX_UPLOAD_BYTES, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
            if length > limit:
                return problem_response(413, f"The request is larger than {limit} bytes.")
        return self.get_response(request)


class ContentSecurityPolicy(_Middleware):
    """Sets the Content-Security-Policy header on HTML responses that have none."""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        html = response.get("Content-Type", "").startswith("text/html")
        if html and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = settings.CONTENT_SECURITY_POLICY
        return response


class UserTimeZone(_Middleware):
    """Pages show times in the logged-in person's zone (`time_zone_name`, accounts' User)."""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # The API speaks UTC: only pages (and their exports) use the zone.
        api = request.path.startswith("/api/")
        name = "" if api else getattr(getattr(request, "user", None), "time_zone_name", "")
        if name:
            timezone.activate(ZoneInfo(name))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
