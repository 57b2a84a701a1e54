"""The process that runs a python generator: `python -m fabflow.production.generate_child NAME`.

It runs inside the sandbox (time, memory and output limits, no network, a private directory
as cwd). It reads the checked values from `values.json`, writes the mesh to `model.stl`, or
`error.json` (`{"parameter", "reason"}` or `{"reason"}`) when the generator refuses them.
Before the plugin is loaded, an audit hook refuses what a mesh generator never needs: network
connections, new processes, and opening files outside the private directory and Python's own
paths (writes only in the private directory).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

VALUES_FILE = "values.json"
OUTPUT_FILE = "model.stl"
ERROR_FILE = "error.json"
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_REFUSED_EVENTS = frozenset(
    [
        "socket.connect",
        "socket.bind",
        "socket.sendto",
        "subprocess.Popen",
        "os.system",
        "os.exec",
        "os.posix_spawn",
        "os.spawn",
        "os.fork",
    ]
)


def _roots() -> tuple[list[str], str]:
    """Directories the generator may read (Python's and the installed packages'), and the
    private directory, the only one it may write."""
    here = os.path.realpath(os.getcwd())
    readable = {here, os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix)}
    readable |= {os.path.realpath(p) for p in sys.path if p and os.path.isabs(p)}
    return sorted(readable), here


def _within(path: str, roots: list[str]) -> bool:
    return any(os.path.commonpath([path, root]) == root for root in roots)


def install_audit_hook() -> None:
    readable, writable = _roots()

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event in _REFUSED_EVENTS:
            raise PermissionError(f"a model generator may not use {event}")
        if event != "open" or not isinstance(args[0], str | bytes | os.PathLike):
            return
        path = os.path.realpath(os.fsdecode(args[0]))
        mode, flags = args[1], args[2] or 0
        writes = bool(flags & _WRITE_FLAGS) or (isinstance(mode, str) and set(mode) & set("wax+"))
        if not _within(path, [writable] if writes else readable):
            raise PermissionError(f"a model generator may not open {path}")

    sys.addaudithook(hook)


def main(name: str) -> int:
    install_audit_hook()
    # Imported after the hook: a plugin's import-time code is under it too.
    from fabflow.production import plugins
    from fabflow.production.mesh import export
    from fabflow.production.parameters import ParameterError

    values = json.loads(Path(VALUES_FILE).read_text())
    generator = plugins.get(name)
    if generator is None:
        return _refuse({"reason": f"no generator {name!r} is installed"})
    try:
        mesh = plugins.generate(generator, values)
    except ParameterError as exc:
        return _refuse({"parameter": exc.name, "reason": exc.reason})
    Path(OUTPUT_FILE).write_bytes(export(mesh, "stl"))
    return 0


def _refuse(error: dict[str, str]) -> int:
    Path(ERROR_FILE).write_text(json.dumps(error))
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
