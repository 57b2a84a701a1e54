"""Request and response schemas of the models API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from ninja import Schema
from pydantic import ConfigDict, Field, StringConstraints

# A model is one OpenSCAD file; a megabyte of text is far beyond any real one.
MAX_SOURCE_CHARS = 1_000_000

ModelName = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Source = Annotated[str, StringConstraints(max_length=MAX_SOURCE_CHARS)]
GeneratorName = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class _In(Schema):
    model_config = ConfigDict(extra="forbid")


class ModelIn(_In):
    spaceKey: Annotated[str, StringConstraints(max_length=100)] | None = None
    name: ModelName
    kind: Literal["openscad", "python"]
    source: Source | None = Field(None, description="The .scad text (kind openscad)")
    generator: GeneratorName | None = Field(
        None, description="The entry point of an installed `fabflow.models` plugin (kind python)"
    )


class ModelUpdateIn(_In):
    source: Source | None = None
    generator: GeneratorName | None = None


class PreviewIn(_In):
    configuration: dict[str, Any] = Field(default_factory=dict)


class ParameterOut(Schema):
    """A parameter of a model; optional keys are left out when they do not apply."""

    name: str
    type: Literal["number", "string", "boolean"]
    default: Any = None
    min: int | float | None = None
    max: int | float | None = None
    step: int | float | None = None
    choices: list[Any] | None = None
    labels: list[str] | None = Field(None, description="Labels of the choices, in their order")
    maxLength: int | None = None
    group: str | None = None
    description: str | None = None


class VersionOut(Schema):
    number: int
    createdAt: datetime
    createdBy: str


class ModelOut(Schema):
    id: UUID
    spaceKey: str
    name: str
    kind: Literal["openscad", "python"]
    version: int
    createdAt: datetime
    updatedAt: datetime
    source: str
    generator: str
    parameters: list[ParameterOut]
    warnings: list[str] = Field(
        default_factory=list, description="What the saved version leaves out or did not check"
    )


class ModelDetailOut(ModelOut):
    versions: list[VersionOut]


class ModelPage(Schema):
    items: list[ModelOut]
    next: str | None
