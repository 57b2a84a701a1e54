"""A product's configuration checked against a model's parameters, before anything renders.

Shops send strings for everything (`"17"`, `"true"`): a value is accepted when it reads as the
parameter's type, then checked against its range, step, choices and length. Unknown keys are
ignored; a missing or null value takes the parameter's default.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from fabflow.core.errors import Invalid

# How far off the step's grid a value may be: sliders are typed by people and decimal
# fractions are not exact in binary.
STEP_TOLERANCE = 1e-6
_TRUE = frozenset(["true", "1", "yes", "on"])
_FALSE = frozenset(["false", "0", "no", "off"])


class ParameterError(Invalid):
    """A configuration value a parameter does not accept; the message names the parameter."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(
            f"parameter {name!r}: {reason}", field=("body", "configuration", name), reason=reason
        )
        self.name = name
        self.reason = reason


def coerce(
    parameters: list[dict[str, Any]], configuration: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The value of every parameter, typed, from `configuration` or the default."""
    if configuration is None:
        configuration = {}
    if not isinstance(configuration, Mapping):
        raise ParameterError("configuration", "must be an object of parameter values")
    values: dict[str, Any] = {}
    for parameter in parameters:
        name = parameter["name"]
        given = configuration.get(name)
        if given is None:
            if parameter.get("default") is None:
                raise ParameterError(name, "is required")
            values[name] = parameter["default"]
            continue
        values[name] = _typed(parameter, given)
    return values


def _typed(parameter: dict[str, Any], value: Any) -> Any:
    kind = parameter["type"]
    if kind == "number":
        return _checked_number(parameter, _number(parameter["name"], value))
    if kind == "boolean":
        return _boolean(parameter["name"], value)
    return _checked_string(parameter, value)


def _number(name: str, value: Any) -> int | float:
    if isinstance(value, bool):
        raise ParameterError(name, f"must be a number, not {str(value).lower()}")
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:  # an int beyond a float's range
            raise ParameterError(name, "must be a finite number") from None
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise ParameterError(name, f"must be a number, not {value[:50]!r}") from None
    else:
        raise ParameterError(name, f"must be a number, not {type(value).__name__}")
    if not math.isfinite(number):
        raise ParameterError(name, "must be a finite number")
    # One spelling per value: 17, "17" and 17.0 are the same configuration.
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def _checked_number(parameter: dict[str, Any], number: int | float) -> int | float:
    name = parameter["name"]
    low, high, step = parameter.get("min"), parameter.get("max"), parameter.get("step")
    if low is not None and number < low:
        raise ParameterError(name, f"must be at least {low}, not {number}")
    if high is not None and number > high:
        raise ParameterError(name, f"must be at most {high}, not {number}")
    # A slider's step counts from its minimum; a spin box's step is only its increment.
    if step and low is not None:
        steps = (number - low) / step
        if abs(steps - round(steps)) > STEP_TOLERANCE:
            raise ParameterError(name, f"must be {low} plus a multiple of {step}, not {number}")
    choices = parameter.get("choices")
    if choices is not None and not any(math.isclose(number, c) for c in choices):
        raise ParameterError(name, f"must be one of {_listed(choices)}, not {number}")
    return number


def _boolean(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ParameterError(name, f"must be true or false, not {str(value)[:50]!r}")


def _checked_string(parameter: dict[str, Any], value: Any) -> str:
    name = parameter["name"]
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # a shop's numeric code for a text field
    if not isinstance(value, str):
        raise ParameterError(name, f"must be a string, not {type(value).__name__}")
    longest = parameter.get("maxLength")
    if longest is not None and len(value) > longest:
        raise ParameterError(name, f"must be at most {longest} characters, not {len(value)}")
    choices = parameter.get("choices")
    if choices is not None and value not in choices:
        raise ParameterError(name, f"must be one of {_listed(choices)}, not {value[:50]!r}")
    return value


def _listed(choices: list[Any]) -> str:
    shown = ", ".join(str(c) for c in choices[:20])
    return shown + (", …" if len(choices) > 20 else "")
