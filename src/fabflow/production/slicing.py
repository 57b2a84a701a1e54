"""Slicing an STL with the distribution's CuraEngine: G-code, print time and material.

CuraEngine's command line leaves placeholders in the G-code header (`;TIME:6666`,
`;Filament used: 0m`, `;MINX:2.14748e+06`) and prints the real header to stderr after
slicing ("Gcode header after slicing:"), with the print time and the filament volume. The
stored G-code gets that real header, and the figures become the part's manufacturing data.
"""

from __future__ import annotations

import io
import json
import math
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import trimesh
from django.conf import settings

from fabflow.production import cura, sandbox

INSTALL_HINT = "apt-get install cura-engine cura"
# Filament densities in g/cm³ (the usual figures of the material makers' data sheets).
Material = Literal["PLA", "PETG", "ABS", "TPU", "Nylon"]
MATERIAL_DENSITY: dict[Material, float] = {
    "PLA": 1.24,
    "PETG": 1.27,
    "ABS": 1.04,
    "TPU": 1.21,
    "Nylon": 1.14,
}
DEFAULT_MATERIAL: Material = "PLA"
DEFAULT_FILAMENT_DIAMETER_MM = 1.75
_MODEL = "model.stl"
_GCODE = "model.gcode"
_REPORT_HEADER = re.compile(r"Gcode header after slicing:\n(.*?)\nEnd of gcode header\.", re.S)
_PRINT_TIME = re.compile(r"^Print time \(s\): (\d+)", re.M)
_FILAMENT = re.compile(r"^Filament \(mm\^3\): (\d+(?:\.\d+)?)", re.M)
_FILAMENT_USED = re.compile(r"^;Filament used: ([\d.]+(?:e[+-]?\d+)?)m$", re.M)
_STDERR_TAIL = 300


class SlicingError(Exception):
    """The model could not be sliced; `reason` is for people (it ends on the task)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Sliced:
    gcode: bytes
    print_time_s: int
    filament_mm3: float
    filament_mm: float
    filament_g: float

    def manufacturing_data(self, *, profile: str, material: str) -> dict[str, Any]:
        return {
            "printTimeS": self.print_time_s,
            "filamentMm": self.filament_mm,
            "filamentG": self.filament_g,
            "profile": profile,
            "material": material,
        }


def machine(profile: str) -> cura.Machine:
    """The installed printer `profile`, or SlicingError saying what to install or choose."""
    definitions = cura.definitions_dir()
    if definitions is None:
        raise SlicingError(f"Cura printer definitions are not installed ({INSTALL_HINT})")
    try:
        return cura.machine(definitions, profile)
    except FileNotFoundError:
        raise SlicingError(f"unknown printer profile {profile!r}") from None


def slice_stl(
    stl: bytes, *, profile: str, overrides: Mapping[str, Any], material: Material = DEFAULT_MATERIAL
) -> Sliced:
    """Slice one STL for `profile` with `overrides`; SlicingError with a readable reason."""
    printer = machine(profile)
    try:
        values = cura.resolve(printer, overrides)
    except cura.UnknownSetting as exc:
        raise SlicingError(str(exc)) from None
    _check_fits(stl, values, profile)
    returncode, stderr, outputs = _run_engine(_argv(printer, values), {_MODEL: stl})
    gcode = outputs.get(_GCODE)
    if returncode != 0 or gcode is None:
        raise SlicingError(f"CuraEngine failed (exit {returncode}): {_tail(stderr)}")
    return _figures(gcode, stderr, values, material)


def _check_fits(stl: bytes, values: Mapping[str, Any], profile: str) -> None:
    """Refuse what is no STL or cannot fit the printer, as Cura's front end would: the engine
    slices a model beyond the build plate without a word."""
    mesh = trimesh.load(io.BytesIO(stl), file_type="stl", force="mesh")
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise SlicingError("not an STL file with triangles")
    size = [float(x) for x in mesh.extents]
    volume = [float(values.get(f"machine_{axis}") or 0) for axis in ("width", "depth", "height")]
    if any(need > room for need, room in zip(size, volume, strict=True)):
        raise SlicingError(
            f"the model ({_mm(size)}) does not fit the build volume of {profile} ({_mm(volume)})"
        )


def _mm(sizes: list[float]) -> str:
    return " x ".join(f"{size:g}" for size in sizes) + " mm"


def _argv(printer: cura.Machine, values: Mapping[str, Any]) -> list[str]:
    flags = [arg for key, value in values.items() for arg in ("-s", f"{key}={_text(value)}")]
    # Global settings, then the same values for extruder train 0 (the engine gives each train
    # its own defaults otherwise, and the train's values win), then the model on that train.
    return [
        settings.FABFLOW_CURA_ENGINE,
        "slice",
        "-v",
        "-j",
        str(printer.definition),
        *flags,
        "-e0",
        *flags,
        "-s",
        "center_object=true",
        "-l",
        _MODEL,
        "-o",
        _GCODE,
    ]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return "" if value is None else str(value)


def _figures(gcode: bytes, stderr: str, values: Mapping[str, Any], material: Material) -> Sliced:
    time_match, filament_match = _PRINT_TIME.search(stderr), _FILAMENT.search(stderr)
    header = _REPORT_HEADER.search(stderr)
    if time_match is None or filament_match is None or header is None:
        raise SlicingError(f"CuraEngine did not report print time and filament: {_tail(stderr)}")
    diameter = float(values.get("material_diameter") or DEFAULT_FILAMENT_DIAMETER_MM)
    area = math.pi * (diameter / 2) ** 2
    # The report rounds the volume to whole mm³; a Marlin header has the length to the µm.
    length_match = _FILAMENT_USED.search(header.group(1))
    if length_match is not None:
        mm3 = float(length_match.group(1)) * 1000 * area
    else:
        mm3 = float(filament_match.group(1))
    return Sliced(
        gcode=rewrite_header(gcode, header.group(1)),
        print_time_s=int(time_match.group(1)),
        filament_mm3=round(mm3, 1),
        filament_mm=round(mm3 / area, 1),
        filament_g=round(mm3 / 1000 * MATERIAL_DENSITY[material], 2),
    )


def rewrite_header(gcode: bytes, header: str) -> bytes:
    """The G-code with its leading comment block replaced by the engine's reported header."""
    lines = gcode.split(b"\n")
    end = next((i for i, line in enumerate(lines) if not line.startswith(b";")), len(lines))
    return b"\n".join([*header.strip("\n").encode().split(b"\n"), *lines[end:]])


def _tail(stderr: str) -> str:
    """The engine's errors, else the end of what it said (not its echo of the settings)."""
    lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith("-s ")]
    errors = [line for line in lines if "[ERROR]" in line]
    return " ".join(errors or lines)[-_STDERR_TAIL:] or "no message"


def _run_engine(argv: list[str], files: Mapping[str, bytes]) -> tuple[int, str, dict[str, bytes]]:
    """Run CuraEngine in the sandbox (docs/production.md "Limits and sandbox") with `files`;
    its exit, stderr and the files it wrote."""
    if shutil.which(argv[0]) is None:
        raise SlicingError(f"CuraEngine is not installed ({INSTALL_HINT})")
    definitions = cura.definitions_dir()
    search = ":".join(str(p) for p in cura.search_path(definitions)) if definitions else ""
    try:
        done = sandbox.run(
            argv, files=files, env={"CURA_ENGINE_SEARCH_PATH": search}, what="slicing"
        )
    except sandbox.SandboxError as exc:
        raise SlicingError(exc.reason) from None
    return done.returncode, done.stderr, done.outputs
