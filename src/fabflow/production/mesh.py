"""Meshes with trimesh: reading and writing STL, 3MF and OBJ, and the checks production stores."""

from __future__ import annotations

import io
from typing import Any, Literal

import numpy as np
import trimesh

Format = Literal["stl", "3mf", "obj"]
FORMATS: tuple[Format, ...] = ("stl", "3mf", "obj")
CONTENT_TYPES: dict[str, str] = {
    "stl": "model/stl",
    "3mf": "model/3mf",
    "obj": "model/obj",
}


class MeshError(Exception):
    """Bytes that are not a readable mesh of the named format."""


def load(data: bytes, fmt: str) -> trimesh.Trimesh:
    """One mesh from file bytes (a 3MF or OBJ scene is merged into one mesh)."""
    try:
        loaded = trimesh.load(io.BytesIO(data), file_type=fmt, force="mesh", process=True)
    except Exception as exc:  # trimesh raises many kinds on bad input
        raise MeshError(f"not a readable {fmt.upper()} file: {exc}") from exc
    if not isinstance(loaded, trimesh.Trimesh) or len(loaded.faces) == 0:
        raise MeshError(f"the {fmt.upper()} file holds no triangles")
    return loaded


def export(mesh: trimesh.Trimesh, fmt: Format) -> bytes:
    """The mesh as file bytes: binary STL, 3MF (millimetres) or OBJ."""
    data: Any = mesh.export(file_type=fmt)  # trimesh writes 3MF in millimetres
    return data.encode() if isinstance(data, str) else bytes(data)


def convert(data: bytes, source: str, target: Format) -> bytes:
    if source == target:
        return data
    return export(load(data, source), target)


def checks(mesh: trimesh.Trimesh) -> dict[str, Any]:
    """What production stores as manufacturing data: units are the model's, millimetres."""
    extents = mesh.extents if len(mesh.faces) else np.zeros(3)
    return {
        "watertight": bool(mesh.is_watertight),
        # A mesh with holes has no inside: its "volume" would be a guess.
        "volumeMm3": round(float(abs(mesh.volume)), 3) if mesh.is_watertight else None,
        "bboxMm": [round(float(v), 3) for v in extents],
        "triangles": len(mesh.faces),
    }
