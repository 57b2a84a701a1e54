"""Python generators: parametric models installed by plugins under `fabflow.models`.

An entry point of the group names an object (or a class, made with no arguments) with a
`parameters` Pydantic model and a `generate(params)` that returns a `trimesh.Trimesh` or the
bytes of an STL file. The parameters the API shows come from the Pydantic model's JSON Schema:
types, defaults, `ge`/`le` bounds, `multiple_of` steps, `max_length`, and the choices of a
`Literal` or an `Enum`. See docs/production.md, "Python generators".
"""

from __future__ import annotations

import io
import logging
from functools import cache
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

import trimesh
from pydantic import BaseModel, ValidationError

from fabflow.production.parameters import ParameterError

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "fabflow.models"
_TYPES = {"number": "number", "integer": "number", "string": "string", "boolean": "boolean"}


@runtime_checkable
class Generator(Protocol):
    """What a `fabflow.models` entry point provides."""

    parameters: type[BaseModel]

    def generate(self, params: Any) -> trimesh.Trimesh | bytes:
        """The mesh for validated `params` (an instance of `parameters`), in millimetres."""
        ...


@cache
def generators() -> dict[str, Generator]:
    """Installed generators by entry-point name; a broken plugin is logged and left out."""
    found: dict[str, Generator] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = entry.load()
            generator = loaded() if isinstance(loaded, type) else loaded
        except Exception:
            log.exception("could not load model plugin %s", entry.value)
            continue
        parameters = getattr(generator, "parameters", None)
        if not (
            isinstance(generator, Generator)
            and isinstance(parameters, type)
            and issubclass(parameters, BaseModel)
        ):
            log.error("model plugin %s has no `parameters` model or `generate`", entry.value)
            continue
        found[entry.name] = generator
    return found


def get(name: str) -> Generator | None:
    return generators().get(name)


def parameters_of(generator: Generator) -> list[dict[str, Any]]:
    """The generator's parameters in the shape of an OpenSCAD model's (`scad.Parameter`)."""
    schema = generator.parameters.model_json_schema()
    definitions = schema.get("$defs", {})
    found = []
    for name, prop in schema.get("properties", {}).items():
        found.append(_parameter(name, _resolved(prop, definitions)))
    return found


def _resolved(prop: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """A property with its `$ref` (an Enum) and single-item `allOf` merged in."""
    merged = dict(prop)
    for ref in [prop.get("$ref"), *[p.get("$ref") for p in prop.get("allOf", [])]]:
        if ref:
            merged = {**definitions.get(ref.rsplit("/", 1)[-1], {}), **merged}
    return merged


def _parameter(name: str, prop: dict[str, Any]) -> dict[str, Any]:
    choices = prop.get("enum")
    if choices is None and "const" in prop:
        choices = [prop["const"]]
    kind = prop.get("type") or _type_of(choices)
    found: dict[str, Any] = {"name": name, "type": _TYPES.get(kind, "string")}
    found["default"] = prop.get("default")
    extras = {
        "min": prop.get("minimum", prop.get("exclusiveMinimum")),
        "max": prop.get("maximum", prop.get("exclusiveMaximum")),
        "step": prop.get("multipleOf", 1 if kind == "integer" else None),
        "choices": choices,
        "maxLength": prop.get("maxLength"),
        "description": prop.get("description"),
    }
    found.update({key: value for key, value in extras.items() if value is not None})
    return found


def _type_of(choices: list[Any] | None) -> str:
    if choices and all(isinstance(c, bool) for c in choices):
        return "boolean"
    if choices and all(isinstance(c, int | float) and not isinstance(c, bool) for c in choices):
        return "number"
    return "string"


def generate(generator: Generator, values: dict[str, Any]) -> trimesh.Trimesh:
    """Run the generator on checked values (`parameters.coerce`); its mesh as a Trimesh."""
    try:
        params = generator.parameters.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = ".".join(str(p) for p in error["loc"]) or "configuration"
        raise ParameterError(name, error["msg"]) from None
    made = generator.generate(params)
    if isinstance(made, bytes | bytearray):
        loaded = trimesh.load(io.BytesIO(made), file_type="stl", force="mesh")
        assert isinstance(loaded, trimesh.Trimesh)
        return loaded
    return made
