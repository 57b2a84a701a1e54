"""A strict JSON body parser: finite numbers, bounded depth, no NUL or lone surrogates."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.http import HttpRequest
from ninja.parser import Parser

from fabflow.core.problems import ApiError, field_error

MAX_DEPTH = 32
_RULES_ATTR = "_fabflow_body_rules"


@dataclass(frozen=True)
class BodyRules:
    """For ninja's `decorate_view`: the operation's body has its own size limit (413 before it
    is parsed), may not repeat a key in an object (422 at the key's path), or is `optional`:
    then a form post (what clients send for "no body") that holds no JSON object is none."""

    max_bytes: int | None = None
    unique_keys: bool = False
    optional: bool = False

    def __call__(self, run: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(run)
        def with_rules(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            setattr(request, _RULES_ATTR, self)
            return run(request, *args, **kwargs)

        return with_rules


body_rules = BodyRules
_FORMS = ("multipart/form-data", "application/x-www-form-urlencoded")


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def _loads(data: bytes | str, repeated: dict[int, list[str]] | None) -> Any:
    """json.loads without NaN/Infinity and without numbers that overflow to infinity; with
    `repeated`, the keys each object repeats go there (by the object's id; later values win)."""

    def new_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result = dict(pairs)
        if repeated is not None and len(result) < len(pairs):
            counts = Counter(key for key, _ in pairs)
            repeated[id(result)] = [key for key, count in counts.items() if count > 1]
        return result

    hook = None if repeated is None else new_object  # the default builds objects faster
    return json.loads(
        data, object_pairs_hook=hook, parse_constant=_reject_constant, parse_float=_finite_float
    )


def _string_problem(text: str) -> str | None:
    if "\x00" in text:
        return "NUL characters are not allowed"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "unpaired surrogates are not valid text"
    return None


def check_values(
    value: Any, loc: tuple[str | int, ...] = (), repeated: dict[int, list[str]] | None = None
) -> list[dict[str, Any]]:
    """Every place in a parsed document holding text or nesting the database cannot store,
    and the keys `repeated` says an object had twice."""
    if len(loc) > MAX_DEPTH:
        return [field_error(loc, f"nesting deeper than {MAX_DEPTH} levels")]
    errors: list[dict[str, Any]] = []
    if isinstance(value, str):
        problem = _string_problem(value)
        if problem:
            errors.append(field_error(loc, problem))
    elif isinstance(value, dict):
        if repeated and id(value) in repeated:
            errors += [field_error((*loc, key), "duplicate key") for key in repeated[id(value)]]
        for key, item in value.items():
            problem = _string_problem(key)
            if problem:
                errors.append(field_error((*loc, key.encode("utf-8", "replace").decode()), problem))
            else:
                errors.extend(check_values(item, (*loc, key), repeated))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            errors.extend(check_values(item, (*loc, index), repeated))
    return errors


class StrictJSONParser(Parser):
    """The API's body parser; its errors are turned into 400/413/422 problems by api.py."""

    def parse_body(self, request: HttpRequest) -> Any:
        rules: BodyRules = getattr(request, _RULES_ATTR, None) or BodyRules()
        if rules.max_bytes is not None and len(request.body) > rules.max_bytes:
            msg = f"this endpoint takes bodies of at most {rules.max_bytes} bytes"
            raise ApiError(
                413, f"The request body is too large: {msg}.", errors=[field_error(["body"], msg)]
            )
        form = request.content_type in _FORMS
        if rules.optional and form and not request.body.lstrip().startswith(b"{"):
            return None
        repeated: dict[int, list[str]] = {}
        data = _loads(request.body, repeated if rules.unique_keys else None)
        errors = check_values(data, ("body",), repeated)
        if errors:
            detail = (
                "The request body repeats a key in an object."
                if any(e["msg"] == "duplicate key" for e in errors)
                else "The request body holds values that cannot be stored."
            )
            raise ApiError(422, detail, errors=errors[:50])
        return data
