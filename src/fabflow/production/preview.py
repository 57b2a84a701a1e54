"""A PNG preview of a mesh, drawn headless with numpy and Pillow.

Why this renderer: OpenSCAD's PNG export needs an OpenGL context (on a server without a display
it writes an empty file), pyrender/VTK need OpenGL or OSMesa too, and matplotlib's Poly3DCollection
is slow on a few thousand triangles and an extra dependency of tens of MB. A preview only has
to show people what was made: triangles seen from one fixed angle, flat shaded, drawn back to
front (painter's algorithm) at twice the size and scaled down for smooth edges. A ring of
~10,000 triangles takes well under a second.
"""

from __future__ import annotations

import io

import numpy as np
import trimesh
from PIL import Image, ImageDraw

SIZE = 512
_SUPERSAMPLE = 2
_BACKGROUND = (255, 255, 255, 0)
_COLOUR = np.array([74, 134, 200])  # the app's blue; shaded per triangle
_LIGHT = np.array([-0.4, 0.5, 0.75])


def _view() -> np.ndarray:
    """Rotation to a three-quarter view from the front right, a little above."""
    about_z = trimesh.transformations.rotation_matrix(np.radians(-35), [0, 0, 1])
    about_x = trimesh.transformations.rotation_matrix(np.radians(-60), [1, 0, 0])
    return (about_x @ about_z)[:3, :3]


def png(mesh: trimesh.Trimesh, size: int = SIZE) -> bytes:
    """A square PNG with a transparent background, the mesh filling most of it."""
    canvas = size * _SUPERSAMPLE
    image = Image.new("RGBA", (canvas, canvas), _BACKGROUND)
    if len(mesh.faces):
        _draw(ImageDraw.Draw(image), mesh, canvas)
    out = io.BytesIO()
    image.resize((size, size), Image.Resampling.LANCZOS).save(out, format="PNG", optimize=True)
    return out.getvalue()


def _draw(draw: ImageDraw.ImageDraw, mesh: trimesh.Trimesh, canvas: int) -> None:
    vertices = mesh.vertices @ _view().T
    triangles = vertices[mesh.faces]  # (n, 3, 3): x right, y up, z towards the viewer
    normals = np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0])
    lengths = np.linalg.norm(normals, axis=1)
    visible = (normals[:, 2] > 0) & (lengths > 0)  # back faces hide behind front faces
    triangles, normals = triangles[visible], normals[visible] / lengths[visible, None]

    light = _LIGHT / np.linalg.norm(_LIGHT)
    brightness = 0.35 + 0.65 * np.clip(normals @ light, 0, 1)
    colours = np.clip(_COLOUR * brightness[:, None], 0, 255).astype(int)

    low, high = vertices[:, :2].min(axis=0), vertices[:, :2].max(axis=0)
    scale = 0.9 * canvas / max(float((high - low).max()), 1e-9)
    centre = (low + high) / 2
    points = (triangles[:, :, :2] - centre) * scale
    points[:, :, 1] *= -1  # image rows grow downwards
    points += canvas / 2

    for index in np.argsort(triangles[:, :, 2].mean(axis=1)):  # far ones first
        fill = (*colours[index].tolist(), 255)
        draw.polygon([tuple(p) for p in points[index]], fill=fill, outline=fill)
