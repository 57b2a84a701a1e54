"""An example Fabflow model plugin: a plain band ring with an engraving groove."""

from __future__ import annotations

import numpy as np
import trimesh
from manifold3d import Manifold
from pydantic import BaseModel, ConfigDict, Field

# Thickness of the band (mm, radial) and the smoothness of its circles.
BAND_THICKNESS = 1.8
SEGMENTS = 128


class RingParameters(BaseModel):
    """A ring's parameters, in millimetres."""

    model_config = ConfigDict(extra="forbid")

    size: float = Field(17.0, ge=10, le=25, description="Inner diameter")
    width: float = Field(4.0, ge=2, le=10, description="Width of the band")
    engravingDepth: float = Field(  # the configuration key shops send
        0.3, ge=0, le=1, description="Depth of the groove around the band (0: none)"
    )


class RingGenerator:
    """The `ring` generator: a band with an optional groove a third of its width."""

    parameters = RingParameters

    def generate(self, params: RingParameters) -> trimesh.Trimesh:
        inner = params.size / 2
        outer = inner + BAND_THICKNESS
        band = Manifold.cylinder(params.width, outer, outer, SEGMENTS) - Manifold.cylinder(
            params.width + 2, inner, inner, SEGMENTS
        ).translate((0, 0, -1))
        if params.engravingDepth > 0:
            groove_width = params.width / 3
            groove = Manifold.cylinder(groove_width, outer + 1, outer + 1, SEGMENTS) - (
                Manifold.cylinder(groove_width + 2, outer - params.engravingDepth, -1.0, SEGMENTS)
            ).translate((0, 0, -1))
            band = band - groove.translate((0, 0, (params.width - groove_width) / 2))
        mesh = band.to_mesh()
        vertices = np.asarray(mesh.vert_properties)[:, :3]
        return trimesh.Trimesh(vertices=vertices, faces=np.asarray(mesh.tri_verts), process=True)


ring = RingGenerator()
