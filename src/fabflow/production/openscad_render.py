"""Rendering OpenSCAD source to a binary STL in the sandbox, with typed `-D` parameters.

The model's source is its own file, `model.scad`, in the run's private directory (also its
HOME and OPENSCADPATH). Parameters are `-D name=value` OpenSCAD literals, never text spliced
into the source: a string is quoted and escaped, so `"); cube(1000); echo("` stays a string.
A render fails, instead of silently giving a different object, when OpenSCAD reports an error,
cannot open an include, library or import, reads any file that is not the model's own (its
`-d` dependency list names every file read), or makes no object.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from typing import Any

from fabflow.production import sandbox

MODEL_FILE = "model.scad"
OUTPUT_FILE = "model.stl"
DEPENDENCY_FILE = "model.deps"
_IDENTIFIER = re.compile(r"^\$?[A-Za-z_][A-Za-z0-9_]*$")
# OpenSCAD warns and goes on without the file: for production that is a failure.
_MISSING_FILE = (
    "Can't open include file",
    "Can't open library",
    "Can't open import file",
    "WARNING: Import",
)
_EMPTY = ("Current top level object is empty", "Top level object is empty")


class OpenScadError(Exception):
    """The model did not render; `reason` is for people."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def literal(value: Any, name: str = "value") -> str:
    """An OpenSCAD literal of a typed value (number, string, boolean, vector, None)."""
    if value is None:
        return "undef"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise OpenScadError(f"parameter {name!r}: must be a finite number")
        return repr(value)
    if isinstance(value, str):
        return '"' + "".join(_escaped(c) for c in value) + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(literal(v, name) for v in value) + "]"
    raise OpenScadError(f"parameter {name!r}: {type(value).__name__} is not an OpenSCAD value")


def _escaped(char: str) -> str:
    if char in '"\\':
        return "\\" + char
    if char in "\n\t\r":
        return {"\n": "\\n", "\t": "\\t", "\r": "\\r"}[char]
    if ord(char) < 0x20:  # other control characters: OpenSCAD's \xNN (NUL cannot be passed)
        return f"\\x{ord(char):02x}" if ord(char) else ""
    return char


def defines(values: Mapping[str, Any], resolution: int | None = None) -> list[str]:
    """`-D` arguments for the values, in name order, and `$fn` for a resolution."""
    argv: list[str] = []
    for name, value in sorted(values.items()):
        if not _IDENTIFIER.match(name):
            raise OpenScadError(f"parameter {name!r}: not an OpenSCAD variable name")
        argv += ["-D", f"{name}={literal(value, name)}"]
    if resolution is not None:
        argv += ["-D", f"$fn={int(resolution)}"]
    return argv


def render_stl(source: str, values: Mapping[str, Any], resolution: int | None = None) -> bytes:
    """The binary STL of `source` with `values`; raises OpenScadError or SandboxError."""
    argv = [
        "openscad",
        "--export-format",
        "binstl",
        "-d",
        DEPENDENCY_FILE,
        "-o",
        OUTPUT_FILE,
        *defines(values, resolution),
        MODEL_FILE,
    ]
    completed = sandbox.run(
        argv,
        files={MODEL_FILE: source.encode()},
        env={"OPENSCADPATH": "{workdir}"},
    )
    judge(completed)
    return completed.outputs[OUTPUT_FILE]


def judge(completed: sandbox.Completed) -> None:
    """Raise OpenScadError unless the run made an object from the model's own files only."""
    messages = completed.stderr.replace(completed.workdir + os.sep, "")
    lines = [line.strip() for line in messages.splitlines() if line.strip()]
    outside = _outside_files(completed)
    if outside:
        raise OpenScadError(f"the model reads {outside[0]}, which is not one of its own files")
    for line in lines:
        if any(sign in line for sign in _MISSING_FILE):
            raise OpenScadError(f"blocked: {line.removeprefix('WARNING: ')}")
    errors = [line for line in lines if line.startswith("ERROR:")]
    if errors:
        raise OpenScadError(f"openscad: {errors[0].removeprefix('ERROR: ')}"[:500])
    if any(sign in line for line in lines for sign in _EMPTY):
        raise OpenScadError("the model is empty: it makes no 3D object")
    if completed.returncode != 0 or OUTPUT_FILE not in completed.outputs:
        last = lines[-1] if lines else f"exit status {completed.returncode}"
        raise OpenScadError(f"openscad failed: {last}"[:500])


def _outside_files(completed: sandbox.Completed) -> list[str]:
    """Files the render read that are not in its private directory (`-d` lists them all)."""
    listing = completed.outputs.get(DEPENDENCY_FILE, b"").decode(errors="replace")
    root = os.path.realpath(completed.workdir)
    found = []
    # Make syntax: "target: \" then one dependency per line, spaces escaped.
    for raw in listing.replace("\\\n", "\n").splitlines()[1:]:
        path = raw.strip().replace("\\ ", " ")
        if not path:
            continue
        absolute = os.path.realpath(os.path.join(root, path))
        if os.path.commonpath([absolute, root]) != root:
            found.append(path)
    return found
