"""A product's configuration checked against a model's parameters (production/parameters.py)."""

from __future__ import annotations

from typing import Any

import pytest

from fabflow.production.parameters import ParameterError, coerce

PARAMETERS: list[dict[str, Any]] = [
    {"name": "size", "type": "number", "default": 17, "min": 10, "max": 25, "step": 0.5},
    {"name": "width", "type": "number", "default": 4, "min": 2, "max": 8},
    {"name": "count", "type": "number", "default": 20, "choices": [10, 20, 30]},
    {"name": "turns", "type": "number", "default": 2, "step": 0.3},  # a spin box's increment
    {"name": "material", "type": "string", "default": "silver", "choices": ["silver", "gold"]},
    {"name": "label", "type": "string", "default": "J+A", "maxLength": 5},
    {"name": "bevel", "type": "boolean", "default": True},
]
DEFAULTS = {
    "size": 17,
    "width": 4,
    "count": 20,
    "turns": 2,
    "material": "silver",
    "label": "J+A",
    "bevel": True,
}


def test_an_empty_configuration_takes_every_default() -> None:
    assert coerce(PARAMETERS, {}) == DEFAULTS
    assert coerce(PARAMETERS, None) == DEFAULTS


def test_unknown_keys_are_ignored_and_nulls_take_the_default() -> None:
    assert coerce(PARAMETERS, {"colour": "red", "size": None}) == DEFAULTS


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"size": 18.5}, {"size": 18.5}),
        ({"size": "18.5"}, {"size": 18.5}),  # shops send strings
        ({"size": " 18 "}, {"size": 18}),
        ({"size": 18.0}, {"size": 18}),  # one spelling per value
        ({"size": "1e1"}, {"size": 10}),
        ({"size": 10}, {"size": 10}),
        ({"size": 25}, {"size": 25}),
        ({"size": 17.1 + 0.4}, {"size": 17.5}),  # binary fractions near the grid
        ({"width": 2.37}, {"width": 2.37}),  # no step: any value in the range
        ({"count": "30"}, {"count": 30}),
        ({"turns": 5.05}, {"turns": 5.05}),  # a spin box's step is not a grid
        ({"material": "gold"}, {"material": "gold"}),
        ({"label": "ABCDE"}, {"label": "ABCDE"}),
        ({"label": 12345}, {"label": "12345"}),
        ({"bevel": False}, {"bevel": False}),
        ({"bevel": "false"}, {"bevel": False}),
        ({"bevel": "Yes"}, {"bevel": True}),
        ({"bevel": 0}, {"bevel": False}),
        ({"bevel": "1"}, {"bevel": True}),
    ],
)
def test_accepted_values_come_back_typed(given: dict[str, Any], expected: dict[str, Any]) -> None:
    assert coerce(PARAMETERS, given) == {**DEFAULTS, **expected}


@pytest.mark.parametrize(
    ("given", "name", "reason"),
    [
        ({"size": 9.5}, "size", "must be at least 10, not 9.5"),
        ({"size": "26"}, "size", "must be at most 25, not 26"),
        ({"size": 17.3}, "size", "must be 10 plus a multiple of 0.5, not 17.3"),
        ({"size": "large"}, "size", "must be a number, not 'large'"),
        ({"size": ""}, "size", "must be a number, not ''"),
        ({"size": "NaN"}, "size", "must be a finite number"),
        ({"size": "inf"}, "size", "must be a finite number"),
        ({"size": float("-inf")}, "size", "must be a finite number"),
        ({"size": True}, "size", "must be a number, not true"),
        ({"size": [17]}, "size", "must be a number, not list"),
        ({"count": 15}, "count", "must be one of 10, 20, 30, not 15"),
        ({"material": "bronze"}, "material", "must be one of silver, gold, not 'bronze'"),
        ({"material": 1.5}, "material", "must be a string, not float"),
        ({"label": "ABCDEF"}, "label", "must be at most 5 characters, not 6"),
        ({"bevel": "maybe"}, "bevel", "must be true or false, not 'maybe'"),
        ({"bevel": 2}, "bevel", "must be true or false, not '2'"),
    ],
)
def test_refused_values_name_the_parameter(given: dict[str, Any], name: str, reason: str) -> None:
    with pytest.raises(ParameterError) as caught:
        coerce(PARAMETERS, given)
    assert (caught.value.name, caught.value.reason) == (name, reason)
    assert str(caught.value) == f"parameter {name!r}: {reason}"
    assert caught.value.problems == [(("body", "configuration", name), reason)]


def test_a_parameter_without_default_must_be_given() -> None:
    required = [{"name": "text", "type": "string", "default": None}]
    with pytest.raises(ParameterError, match="parameter 'text': is required"):
        coerce(required, {})
    assert coerce(required, {"text": "hi"}) == {"text": "hi"}


def test_a_configuration_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(ParameterError, match="must be an object"):
        coerce(PARAMETERS, ["size", 17])  # type: ignore[arg-type]
