"""Python generators (`fabflow.models` entry points) and the example ring plugin."""

from __future__ import annotations

import enum
from typing import Any, Literal

import pytest
import trimesh
from fabflow_ring import RingGenerator, RingParameters
from pydantic import BaseModel, Field

from fabflow.production import plugins
from fabflow.production.parameters import ParameterError, coerce


def test_the_example_plugin_is_found_through_its_entry_point() -> None:
    found = plugins.generators()
    assert set(found) == {"ring"}
    assert isinstance(found["ring"], RingGenerator)
    assert isinstance(found["ring"], plugins.Generator)
    assert found["ring"].parameters is RingParameters


def test_the_ring_is_a_watertight_band_of_the_configured_size() -> None:
    ring = plugins.get("ring")
    assert ring is not None
    values = coerce(plugins.parameters_of(ring), {"size": "18", "width": 5, "engravingDepth": 0})
    mesh = plugins.generate(ring, values)
    assert mesh.is_watertight
    # inner diameter 18 + 2 x 1.8 band, 5 high
    assert mesh.extents.round(2).tolist() == [21.6, 21.6, 5.0]
    assert mesh.volume == pytest.approx(3.14159 * (10.8**2 - 9**2) * 5, rel=1e-3)


def test_the_engraving_groove_takes_material_away() -> None:
    ring = plugins.get("ring")
    assert ring is not None
    plain = plugins.generate(ring, {"size": 17, "width": 4, "engravingDepth": 0})
    engraved = plugins.generate(ring, {"size": 17, "width": 4, "engravingDepth": 0.5})
    assert engraved.is_watertight
    groove = 3.14159 * (10.3**2 - 9.8**2) * 4 / 3
    assert plain.volume - engraved.volume == pytest.approx(groove, rel=1e-2)


class Finish(enum.Enum):
    MATT = "matt"
    GLOSS = "gloss"


class Everything(BaseModel):
    count: int = Field(3, ge=1, le=9)
    ratio: float = Field(0.5, gt=0, lt=1, multiple_of=0.25, title="Ratio")
    shape: Literal["round", "square"] = "round"
    finish: Finish = Finish.MATT
    text: str = Field("hi", max_length=8, description="Engraved text")
    hollow: bool = False
    required: str


class Cube:
    parameters = Everything

    def generate(self, params: Everything) -> bytes:
        box: Any = trimesh.creation.box(extents=[params.count] * 3)
        return bytes(box.export(file_type="stl"))


def test_parameters_come_from_the_pydantic_json_schema() -> None:
    assert plugins.parameters_of(Cube()) == [
        {"name": "count", "type": "number", "default": 3, "min": 1, "max": 9, "step": 1},
        {"name": "ratio", "type": "number", "default": 0.5, "min": 0, "max": 1, "step": 0.25},
        {"name": "shape", "type": "string", "default": "round", "choices": ["round", "square"]},
        {"name": "finish", "type": "string", "default": "matt", "choices": ["matt", "gloss"]},
        {
            "name": "text",
            "type": "string",
            "default": "hi",
            "maxLength": 8,
            "description": "Engraved text",
        },
        {"name": "hollow", "type": "boolean", "default": False},
        {"name": "required", "type": "string", "default": None},
    ]


def test_a_generator_may_return_stl_bytes() -> None:
    mesh = plugins.generate(Cube(), {"count": 2, "required": "x"})
    assert isinstance(mesh, trimesh.Trimesh)
    assert mesh.is_watertight and mesh.volume == pytest.approx(8)


def test_the_pydantic_model_has_the_last_word_on_values() -> None:
    # 0.75 is in the listed range [0, 1] but the model says lt=1 and multiple_of=0.25: ok;
    # 1 is refused by `lt` although the parameter list shows max 1
    with pytest.raises(ParameterError) as caught:
        plugins.generate(Cube(), {"ratio": 1, "required": "x"})
    assert caught.value.name == "ratio"
    assert caught.value.reason == "Input should be less than 1"
