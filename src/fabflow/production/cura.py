"""The distribution's Cura printer definitions: profiles, setting keys and resolved values.

CuraEngine's command line reads only the `default_value` of each setting; the `value` formulas
that tie settings together (`infill_line_distance` from `infill_sparse_density`, the number of
top layers from `layer_height`) are evaluated by Cura's front end. Fabflow does what the front
end does: it evaluates every formula of the definition chain, with the payload's overrides in
place, and hands CuraEngine the result. Formulas come from the distribution's files and are
evaluated with simpleeval (no attribute access to modules, no imports), never `eval`.
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from simpleeval import EvalWithCompoundTypes, NameNotDefined

DEFAULT_DEFINITIONS = Path("/usr/share/cura/resources/definitions")
BASE_DEFINITION = "fdmprinter.def.json"
# Fabflow slices every model with the machine's first extruder.
SINGLE_EXTRUDER = {"machine_extruder_count": 1, "extruders_enabled_count": 1}
_MATH = SimpleNamespace(**{name: getattr(math, name) for name in dir(math) if name[0] != "_"})


class UnknownSetting(ValueError):
    """A setting override the definition does not know, or a value of the wrong type."""


def definitions_dir() -> Path | None:
    """The folder of printer definitions: the setting, else the distribution's or the engine's."""
    configured = settings.FABFLOW_CURA_DEFINITIONS
    search = os.environ.get("CURA_ENGINE_SEARCH_PATH", "")
    candidates = (
        [Path(configured)]
        if configured
        else [DEFAULT_DEFINITIONS, *(Path(p) for p in search.split(os.pathsep) if p)]
    )
    return next((path for path in candidates if (path / BASE_DEFINITION).is_file()), None)


def search_path(definitions: Path) -> list[Path]:
    """Where definitions and extruder trains are found (Cura keeps them in sibling folders)."""
    return [definitions, definitions.parent / "extruders"]


def profiles() -> list[str]:
    """The installed printers a flow may name, sorted; empty when none is installed."""
    definitions = definitions_dir()
    return [] if definitions is None else list(_profiles(definitions))


@functools.cache
def _profiles(definitions: Path) -> tuple[str, ...]:
    found = []
    for path in sorted(definitions.glob("*.def.json")):
        metadata = _read(path).get("metadata", {})
        # Abstract bases (fdmprinter, creality_base) are hidden; they cannot print on their own.
        if metadata.get("visible", True) is not False:
            found.append(path.name.removesuffix(".def.json"))
    return tuple(found)


@functools.cache
def _read(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def _find(definitions: Path, name: str) -> Path:
    for folder in search_path(definitions):
        path = folder / f"{name}.def.json"
        if path.is_file():
            return path
    raise FileNotFoundError(f"Cura definition {name!r} not found in {definitions}")


def _chain(definitions: Path, name: str) -> list[dict[str, Any]]:
    """The definition and its ancestors, base first."""
    chain = [_read(_find(definitions, name))]
    while "inherits" in chain[-1]:
        chain.append(_read(_find(definitions, chain[-1]["inherits"])))
    return chain[::-1]


def _walk(tree: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for key, node in tree.items():
        yield key, node
        yield from _walk(node.get("children", {}))


def _properties(chain: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for definition in chain:
        for key, node in _walk(definition.get("settings", {})):
            found.setdefault(key, {}).update((k, v) for k, v in node.items() if k != "children")
        for key, override in definition.get("overrides", {}).items():
            found.setdefault(key, {}).update(override)
    return found


@dataclass(frozen=True)
class Machine:
    """One printer definition with its first extruder train, ready to resolve."""

    profile: str
    definition: Path
    extruder: Path | None
    properties: Mapping[str, Mapping[str, Any]]

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(self.properties)


@functools.cache
def machine(definitions: Path, profile: str) -> Machine:
    """The printer `profile`; FileNotFoundError when it is not installed."""
    if profile not in _profiles(definitions):
        raise FileNotFoundError(f"unknown printer profile {profile!r}")
    chain = _chain(definitions, profile)
    trains: dict[str, str] = {}
    for definition in chain:
        trains.update(definition.get("metadata", {}).get("machine_extruder_trains", {}))
    properties = _properties(chain)
    extruder = _find(definitions, trains["0"]) if "0" in trains else None
    if extruder is not None:
        # The extruder train's own values (nozzle, filament diameter) win, as in Cura's stacks.
        for key, props in _properties(_chain(definitions, trains["0"])).items():
            properties[key] = {**properties.get(key, {}), **props}
    return Machine(profile, _find(definitions, profile), extruder, properties)


def typed(machine: Machine, key: str, value: Any) -> Any:
    """An override as the setting's type; UnknownSetting names what is wrong."""
    props = machine.properties.get(key)
    if props is None:
        raise UnknownSetting(f"unknown setting {key!r} for {machine.profile}")
    kind = props.get("type")
    try:
        if kind == "float":
            return _number(value, float)
        if kind == "int" or kind == "extruder":
            return _number(value, int)
        if kind == "bool":
            if not isinstance(value, bool):
                raise TypeError("true or false")
            return value
        if kind == "enum" and str(value) not in props.get("options", {}):
            raise TypeError("one of " + ", ".join(props.get("options", {})))
    except (TypeError, ValueError) as exc:
        raise UnknownSetting(f"setting {key!r} must be {_expected(exc, kind)}") from None
    return value


def _expected(exc: Exception, kind: object) -> str:
    if isinstance(exc, TypeError) and str(exc):
        return str(exc)
    return "an integer" if kind in ("int", "extruder") else "a number"


def _number(value: Any, kind: Callable[[Any], Any]) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(value)
    number = float(value)
    if kind is int and not number.is_integer():
        raise ValueError(value)
    return kind(number)


def resolve(machine: Machine, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Every setting's value as Cura's front end would send it, with `overrides` in place."""
    fixed = {**SINGLE_EXTRUDER, **{key: typed(machine, key, v) for key, v in overrides.items()}}
    return _Resolver(machine, fixed).all()


class _Resolver:
    def __init__(self, machine: Machine, fixed: Mapping[str, Any]) -> None:
        self.properties = machine.properties
        self.values: dict[str, Any] = dict(fixed)
        self.busy: set[str] = set()
        one = self.value
        functions = {
            **{f.__name__: f for f in (abs, all, any, bool, float, int, len, list, max, min)},
            **{f.__name__: f for f in (map, round, set, sorted, str, sum)},
            "extruderValue": lambda _extruder, key: one(key),
            "extruderValues": lambda key: [one(key)],
            "resolveOrValue": one,
            "defaultExtruderPosition": lambda: "0",
            "anyExtruderWithMaterial": lambda _key: "0",
            "anyExtruderNrWithOrDefault": lambda _key: 0,
            "valueFromContainer": lambda *_args: None,
            "extruderValueFromContainer": lambda *_args: None,
        }
        self.evaluator = EvalWithCompoundTypes(functions=functions, names=self._name)
        self.functions = functions

    def all(self) -> dict[str, Any]:
        return {key: self.value(key) for key in self.properties}

    def _name(self, node: Any) -> Any:
        name = node.id
        if name == "math":
            return _MATH
        if name in self.functions:
            return self.functions[name]
        if name in self.properties:
            return self.value(name)
        raise NameNotDefined(name, "")

    def value(self, key: str) -> Any:
        if key in self.values:
            return self.values[key]
        props = self.properties.get(key, {})
        result = props.get("default_value")
        formula = props.get("value")
        if formula is not None and key not in self.busy:
            self.busy.add(key)
            try:
                result = self._evaluate(formula, result)
            finally:
                self.busy.discard(key)
        self.values[key] = result
        return result

    def _evaluate(self, formula: Any, default: Any) -> Any:
        if not isinstance(formula, str):
            return formula
        try:
            return self.evaluator.eval(formula)
        except Exception:  # Cura, too, keeps the default of a formula it cannot evaluate
            return default
