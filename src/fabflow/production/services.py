"""Writes for parametric models: creation and new versions (name, space and kind never change).

An OpenSCAD source is read before it is stored: its parameters, any `include`/`use`/`import`
it shows (refused: a model is one file), and its syntax as OpenSCAD parses it.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from fabflow.accounts.models import Space
from fabflow.core.errors import Conflict, Invalid
from fabflow.production import plugins, scad
from fabflow.production.models import ModelVersion, ParametricModel


class SourceError(Invalid):
    """The OpenSCAD source is refused at `line` (a syntax error, an import)."""

    def __init__(self, message: str, *, line: int | None, reason: str) -> None:
        super().__init__(message, field=("body", "source"), reason=reason)
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class Saved:
    version: ModelVersion
    warnings: list[str]


@dataclass(frozen=True)
class _Read:
    source: str
    generator: str
    parameters: list[dict[str, object]]
    warnings: list[str]


def create_model(
    *,
    space: Space,
    name: str,
    kind: str,
    source: str = "",
    generator: str = "",
    actor: str = "",
) -> Saved:
    if kind not in ParametricModel.Kind.values:
        raise Invalid(f"Unknown kind {kind!r}.", field=("body", "kind"), reason="unknown kind")
    read = _read(kind, source=source, generator=generator)
    try:
        with transaction.atomic():
            model = ParametricModel.objects.create(
                organization_id=space.organization_id, space=space, name=name, kind=kind
            )
            version = _store(model, 1, read, actor)
    except IntegrityError as exc:
        raise Conflict(
            f"Space {space.key} already has a model named {name!r}.",
            field=("body", "name"),
            reason="already used",
        ) from exc
    return Saved(version, read.warnings)


def save_version(
    *, model: ParametricModel, source: str = "", generator: str = "", actor: str = ""
) -> Saved:
    """Store a new version; orders keep the version they started with. A python model saved
    without a generator keeps its own (its parameters are read again from the plugin)."""
    if model.kind == ParametricModel.Kind.PYTHON and not generator:
        current = ModelVersion.objects.get(model=model, number=model.current_version)
        generator = current.generator
    read = _read(model.kind, source=source, generator=generator)
    with transaction.atomic():
        ParametricModel.objects.filter(pk=model.pk).update(
            current_version=F("current_version") + 1, updated_at=timezone.now()
        )
        model.refresh_from_db(fields=["current_version", "updated_at"])
        return Saved(_store(model, model.current_version, read, actor), read.warnings)


def _store(model: ParametricModel, number: int, read: _Read, actor: str) -> ModelVersion:
    return ModelVersion.objects.create(
        model=model,
        number=number,
        source=read.source,
        generator=read.generator,
        parameters=read.parameters,
        created_by=actor,
    )


def _read(kind: str, *, source: str, generator: str) -> _Read:
    if kind == ParametricModel.Kind.PYTHON:
        if source:
            raise Invalid(
                "A python model has a generator, not a source.",
                field=("body", "source"),
                reason="only for openscad models",
            )
        return _read_generator(generator)
    if generator:
        raise Invalid(
            "An OpenSCAD model has a source, not a generator.",
            field=("body", "generator"),
            reason="only for python models",
        )
    return _read_source(source)


def _read_generator(name: str) -> _Read:
    found = plugins.get(name)
    if found is None:
        installed = ", ".join(sorted(plugins.generators())) or "none"
        raise Invalid(
            f"No generator {name!r} is installed (installed: {installed}).",
            field=("body", "generator"),
            reason=f"not installed; installed: {installed}",
        )
    return _Read("", name, plugins.parameters_of(found), [])


def _read_source(source: str) -> _Read:
    if not source.strip():
        raise Invalid("An OpenSCAD model needs its source.", field=("body", "source"))
    if "\x00" in source:
        raise Invalid("The source holds a NUL character.", field=("body", "source"))
    imports = scad.visible_imports(source)
    if imports:
        first = imports[0]
        what = (
            f"{first.kind} <{first.target}>"
            if first.kind in ("include", "use")
            else (f'{first.kind}("{first.target}")')
        )
        raise SourceError(
            f"Line {first.line}: {what} reads another file; a model is a single file, so "
            "include, use and import are refused.",
            line=first.line,
            reason=f"line {first.line}: {what} is not allowed",
        )
    problem, warnings = scad.check_syntax(source)
    if problem is not None:
        where = f"line {problem.line}" if problem.line else "the source"
        raise SourceError(
            f"Syntax error at {where}: {problem.message}",
            line=problem.line,
            reason=f"{where}: {problem.message}",
        )
    reading = scad.read_parameters(source)
    parameters = [p.as_json() for p in reading.parameters]
    return _Read(source, "", parameters, [*warnings, *reading.warnings])


def preview(version: ModelVersion, configuration: dict[str, object]) -> bytes:
    """The version's preview PNG with `configuration` (cached by the render pipeline). A bad
    value raises ParameterError; a model that does not render is Invalid with the reason."""
    from fabflow.production.render import RenderError, preview_png

    try:
        return preview_png(version, configuration)
    except RenderError as exc:
        reason = str(getattr(exc, "reason", "") or exc)
        raise Invalid(
            f"The model could not be rendered: {reason}",
            field=("body", "configuration"),
            reason=reason,
        ) from exc
