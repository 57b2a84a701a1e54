"""A strict JSON body parser: finite numbers, bounded depth, no NUL or lone surrogates."""

from __future__ import annotations

import json
import math
from typing import Any

from django.http import HttpRequest
from ninja.parser import Parser

from fabflow.core.problems import ApiError, field_error

MAX_DEPTH = 32


class BodyInvalid(ApiError):
    """Raised for a body that parses but holds values we never store."""


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def loads(data: bytes | str) -> Any:
    """json.loads without NaN/Infinity and without numbers that overflow to infinity."""
    return json.loads(data, parse_constant=_reject_constant, parse_float=_finite_float)


def _string_problem(text: str) -> str | None:
    if "\x00" in text:
        return "NUL characters are not allowed"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "unpaired surrogates are not valid text"
    return None


def check_values(value: Any, loc: tuple[str | int, ...] = ()) -> list[dict[str, Any]]:
    """Every place in a parsed document holding text or nesting the database cannot store."""
    if len(loc) > MAX_DEPTH:
        return [field_error(loc, f"nesting deeper than {MAX_DEPTH} levels")]
    errors: list[dict[str, Any]] = []
    if isinstance(value, str):
        problem = _string_problem(value)
        if problem:
            errors.append(field_error(loc, problem))
    elif isinstance(value, dict):
        for key, item in value.items():
            problem = _string_problem(key)
            if problem:
                errors.append(field_error((*loc, key.encode("utf-8", "replace").decode()), problem))
            else:
                errors.extend(check_values(item, (*loc, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            errors.extend(check_values(item, (*loc, index)))
    return errors


class StrictJSONParser(Parser):
    """The API's body parser; its errors are turned into 400/413/422 problems by api.py."""

    def parse_body(self, request: HttpRequest) -> Any:
        data = loads(request.body)
        errors = check_values(data, ("body",))
        if errors:
            raise BodyInvalid(
                422, "The request body holds values that cannot be stored.", errors=errors[:50]
            )
        return data
