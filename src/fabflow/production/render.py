"""Rendering a model version with a configuration: sandboxed, checked, previewed and cached.

The cache key is the sha256 of (model version id, the configuration as checked typed values in
key order, format, resolution). An entry lives in Django's default storage under
`renders/<key>/` (`model.<format>`, `preview.png`, `checks.json`), so every worker and host
shares it, on a local disk or S3. `checks.json` is written last: an entry without it is
incomplete and is rendered again. Two identical renders at once are harmless: they write the
same bytes. A hit never starts a process.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from fabflow.production import mesh as meshes
from fabflow.production import preview as previews
from fabflow.production import sandbox
from fabflow.production.generate_child import ERROR_FILE, OUTPUT_FILE, VALUES_FILE
from fabflow.production.openscad_render import OpenScadError, render_stl
from fabflow.production.parameters import ParameterError, coerce

logger = logging.getLogger(__name__)
CACHE_PREFIX = "renders"
PREVIEW_FILE = "preview.png"
CHECKS_FILE = "checks.json"


class RenderError(Exception):
    """A model that did not render (sandbox limit, OpenSCAD error, missing program)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Model(Protocol):
    kind: str


class Version(Protocol):
    """What rendering reads of a model version (production.models.ModelVersion)."""

    @property
    def id(self) -> Any: ...
    @property
    def model(self) -> _Model: ...
    @property
    def source(self) -> str: ...
    @property
    def generator(self) -> str: ...
    @property
    def parameters(self) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class Rendered:
    mesh_bytes: bytes
    preview_png: bytes | None
    checks: dict[str, Any]
    cache_hit: bool
    format: str = "stl"


def cache_key(version_id: Any, values: Mapping[str, Any], fmt: str, resolution: int | None) -> str:
    normalized = {
        "version": str(version_id),
        "configuration": dict(values),
        "format": fmt,
        "resolution": resolution,
    }
    text = json.dumps(normalized, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def render_cached(
    version: Version,
    configuration: Mapping[str, Any] | None,
    fmt: meshes.Format = "stl",
    resolution: int | None = None,
    preview: bool = True,
) -> Rendered:
    """The file, preview and mesh checks of `version` with `configuration`.

    Raises ParameterError for a value the model refuses, before anything runs, and
    RenderError for a model that does not render.
    """
    values = coerce(version.parameters, configuration)
    key = cache_key(version.id, values, fmt, resolution)
    cached = _cached(key, fmt, preview)
    if cached is not None:
        return cached
    # Another format of the same render (a preview's STL, say) is converted, not rendered.
    same = _cached(cache_key(version.id, values, "stl", resolution), "stl", preview=False)
    stl = same.mesh_bytes if same is not None else render_stl_of(version, values, resolution)
    try:
        mesh = meshes.load(stl, "stl")
    except meshes.MeshError as exc:
        raise RenderError(f"the rendered mesh is unreadable: {exc}") from exc
    checks = meshes.checks(mesh)
    data = stl if fmt == "stl" else meshes.export(mesh, fmt)
    png = previews.png(mesh) if preview else None
    _store(key, fmt, data, png, checks)
    return Rendered(data, png, checks, cache_hit=same is not None, format=fmt)


def preview_png(version: Version, configuration: Mapping[str, Any] | None) -> bytes:
    """The PNG preview of `version` with `configuration` (cached with the STL render)."""
    rendered = render_cached(version, configuration, "stl", None, preview=True)
    assert rendered.preview_png is not None
    return rendered.preview_png


def render_stl_of(version: Version, values: Mapping[str, Any], resolution: int | None) -> bytes:
    """A binary STL of the version with checked values, made in the sandbox."""
    try:
        if version.model.kind == "python":
            return _generated_stl(version.generator, values)
        return render_stl(version.source, values, resolution)
    except (sandbox.SandboxError, OpenScadError) as exc:
        raise RenderError(exc.reason) from exc


def _generated_stl(generator: str, values: Mapping[str, Any]) -> bytes:
    completed = sandbox.run(
        [sys.executable, "-I", "-m", "fabflow.production.generate_child", generator],
        files={VALUES_FILE: json.dumps(dict(values)).encode()},
        # One BLAS thread: a thread pool per core costs address space under RLIMIT_AS.
        env={"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
    )
    if ERROR_FILE in completed.outputs:
        error = json.loads(completed.outputs[ERROR_FILE])
        if "parameter" in error:
            raise ParameterError(error["parameter"], error["reason"])
        raise RenderError(error["reason"])
    if completed.returncode != 0 or OUTPUT_FILE not in completed.outputs:
        last = (completed.stderr.strip().splitlines() or [f"exit {completed.returncode}"])[-1]
        raise RenderError(f"generator {generator!r} failed: {last}"[:500])
    return completed.outputs[OUTPUT_FILE]


# Cache ---------------------------------------------------------------------------------------


def _path(key: str, name: str) -> str:
    return f"{CACHE_PREFIX}/{key}/{name}"


def _cached(key: str, fmt: str, preview: bool) -> Rendered | None:
    checks_path, mesh_path = _path(key, CHECKS_FILE), _path(key, f"model.{fmt}")
    try:
        checks = json.loads(_read(checks_path))
        data = _read(mesh_path)
    except (FileNotFoundError, OSError, ValueError):
        return None
    png = None
    if preview:
        try:
            png = _read(_path(key, PREVIEW_FILE))
        except (FileNotFoundError, OSError):
            # Rendered before without a preview: draw it from the cached mesh, no render.
            png = previews.png(meshes.load(data, fmt))
            _write(_path(key, PREVIEW_FILE), png)
    return Rendered(data, png, checks, cache_hit=True, format=fmt)


def _store(key: str, fmt: str, data: bytes, png: bytes | None, checks: dict[str, Any]) -> None:
    _write(_path(key, f"model.{fmt}"), data)
    if png is not None:
        _write(_path(key, PREVIEW_FILE), png)
    _write(_path(key, CHECKS_FILE), json.dumps(checks).encode())  # last: the entry is complete


def _read(path: str) -> bytes:
    with default_storage.open(path, "rb") as handle:
        data: bytes = handle.read()
    return data


def _write(path: str, data: bytes) -> None:
    if default_storage.exists(path):
        return  # the same key holds the same bytes
    saved = default_storage.save(path, ContentFile(data))
    if saved != path:  # a concurrent identical render won the name; keep one copy
        default_storage.delete(saved)
