"""Run an untrusted program (OpenSCAD, a generator, CuraEngine) in a separate, limited process.

Every run gets:
- a private temporary directory as its working directory and HOME, deleted afterwards; the
  caller's ``files`` are written into it and every file the program leaves there comes back
  in ``Completed.outputs``;
- a minimal environment (PATH, HOME, TMPDIR, LANG and the caller's ``env``);
- limits: wall-clock time (the whole process group is killed), address space (RLIMIT_AS),
  file size (RLIMIT_FSIZE, plus a check of the total output), no core dumps; the limits are
  applied by util-linux ``prlimit`` in the child, not by a ``preexec_fn`` (which may deadlock
  in a threaded worker);
- no network: the program runs in a new user and network namespace (``unshare -rn``) which has
  only a loopback interface that is down. Where unprivileged user namespaces are disabled, the
  run goes ahead without that layer and a warning is logged once (docs/production.md).

A failed limit raises ``SandboxError`` with a reason a person can read ("render exceeded
120 s"); a program that merely exits non-zero is returned for the caller to judge.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from django.conf import settings

logger = logging.getLogger(__name__)

# Programs started, by name of argv[0]: lets tests prove that a cache hit ran nothing.
runs: Counter[str] = Counter()
_runs_lock = threading.Lock()

_MB = 1024 * 1024
_STREAM_CAP = 1 * _MB  # stdout/stderr kept for the caller (the rest is dropped)
_MEMORY_SIGNS = ("bad_alloc", "Cannot allocate memory", "MemoryError", "out of memory")


class SandboxError(Exception):
    """A sandboxed run that hit a limit, or could not start; ``reason`` is for people."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, bytes] = field(default_factory=dict)
    workdir: str = ""  # where it ran (already deleted): to read paths in its messages


@dataclass(frozen=True)
class Limits:
    timeout_s: float
    memory_mb: int
    max_output_mb: int

    @classmethod
    def from_settings(
        cls,
        timeout_s: float | None = None,
        memory_mb: int | None = None,
        max_output_mb: int | None = None,
    ) -> Limits:
        return cls(
            timeout_s=timeout_s or settings.FABFLOW_RENDER_TIMEOUT_S,
            memory_mb=memory_mb or settings.FABFLOW_RENDER_MEMORY_MB,
            max_output_mb=max_output_mb or settings.FABFLOW_RENDER_MAX_OUTPUT_MB,
        )


def run(
    argv: Sequence[str],
    *,
    files: Mapping[str, bytes] | None = None,
    env: Mapping[str, str] | None = None,
    timeout_s: float | None = None,
    memory_mb: int | None = None,
    max_output_mb: int | None = None,
    what: str = "render",
) -> Completed:
    """Run ``argv`` in a fresh private directory (its cwd) holding ``files``.

    Paths in ``argv`` relative to the directory name the files; ``{workdir}`` in an ``env``
    value stands for the directory's absolute path. ``what`` names the run in
    reasons ("render exceeded 120 s", "slicing exceeded 120 s"). Unset limits come from the
    settings FABFLOW_RENDER_TIMEOUT_S, FABFLOW_RENDER_MEMORY_MB, FABFLOW_RENDER_MAX_OUTPUT_MB.
    """
    limits = Limits.from_settings(timeout_s, memory_mb, max_output_mb)
    program = _program(argv[0])
    with tempfile.TemporaryDirectory(prefix="fabflow-sandbox-") as tmp:
        root = Path(tmp)
        workdir = root / "work"
        workdir.mkdir()
        _write_files(workdir, files or {})
        inputs = {name: _digest(workdir / name) for name in (files or {})}
        command = _wrap([program, *argv[1:]], limits)
        with _runs_lock:
            runs[PurePosixPath(argv[0]).name] += 1
        environment = {k: v.replace("{workdir}", str(workdir)) for k, v in (env or {}).items()}
        returncode, stdout, stderr = _execute(command, workdir, root, environment, limits, what)
        outputs = _collect(workdir, inputs, limits)
    completed = Completed(returncode, stdout, stderr, outputs, str(workdir))
    _judge(completed, limits, what)
    return completed


def _program(name: str) -> str:
    found = shutil.which(name) if "/" not in name else (name if os.access(name, os.X_OK) else None)
    if found is None:
        raise SandboxError(f"{PurePosixPath(name).name} is not installed")
    return found


def _write_files(workdir: Path, files: Mapping[str, bytes]) -> None:
    for name, data in files.items():
        path = (workdir / name).resolve()
        if not path.is_relative_to(workdir.resolve()):
            raise SandboxError(f"file name {name!r} leaves the sandbox directory")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _digest(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


@functools.cache
def network_isolation() -> bool:
    """Whether ``unshare -rn`` works on this host (checked once per process)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        logger.warning("sandbox: util-linux unshare is missing; programs run with network")
        return False
    probe = subprocess.run(  # noqa: S603 - fixed argv
        [unshare, "-rn", "true"], capture_output=True, timeout=10, check=False
    )
    if probe.returncode != 0:
        logger.warning(
            "sandbox: user namespaces are unavailable (%s); programs run with network",
            probe.stderr.decode(errors="replace").strip(),
        )
        return False
    return True


def _wrap(argv: list[str], limits: Limits) -> list[str]:
    memory = limits.memory_mb * _MB
    size = limits.max_output_mb * _MB
    # CPU seconds: a backstop should this worker die mid-run (the wall clock is the limit);
    # a program using every core must not reach it before the wall clock does.
    cpu = int(limits.timeout_s * (os.cpu_count() or 1)) + 5
    prefix: list[str] = []
    prlimit = shutil.which("prlimit")
    if prlimit is not None:
        prefix = [prlimit, f"--as={memory}", f"--fsize={size}", "--core=0", f"--cpu={cpu}", "--"]
    else:  # pragma: no cover - util-linux ships prlimit with unshare
        logger.warning("sandbox: util-linux prlimit is missing; memory and size are not limited")
    if network_isolation():
        prefix += [shutil.which("unshare") or "unshare", "-rn"]
    return [*prefix, *argv]


def _execute(
    command: list[str],
    workdir: Path,
    root: Path,
    env: Mapping[str, str],
    limits: Limits,
    what: str,
) -> tuple[int, str, str]:
    environment = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(workdir),
        "TMPDIR": str(workdir),
        "LANG": "C.UTF-8",
        **env,
    }
    # The streams go to files outside the work directory, so RLIMIT_FSIZE caps them too and
    # they never count as outputs.
    with open(root / "stdout", "w+b") as out, open(root / "stderr", "w+b") as err:
        process = subprocess.Popen(  # noqa: S603 - argv, never a shell
            command,
            cwd=workdir,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        try:
            returncode = process.wait(timeout=limits.timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            raise SandboxError(f"{what} exceeded {limits.timeout_s:g} s") from None
        finally:
            _kill_group(process)  # children the program left behind
        return returncode, _read(out), _read(err)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


def _read(stream: BinaryIO) -> str:
    stream.seek(0)
    return stream.read(_STREAM_CAP).decode(errors="replace")


def _collect(
    workdir: Path, inputs: Mapping[str, tuple[int, int]], limits: Limits
) -> dict[str, bytes]:
    cap = limits.max_output_mb * _MB
    paths = [p for p in sorted(workdir.rglob("*")) if p.is_file() and not p.is_symlink()]
    changed = [p for p in paths if inputs.get(p.relative_to(workdir).as_posix()) != _digest(p)]
    sizes = [p.stat().st_size for p in changed]
    if sum(sizes) > cap or any(size >= cap for size in sizes):  # one file stopped at the cap
        raise SandboxError(f"output larger than {limits.max_output_mb} MB")
    return {p.relative_to(workdir).as_posix(): p.read_bytes() for p in changed}


def _judge(completed: Completed, limits: Limits, what: str) -> None:
    code = completed.returncode
    # SIGXFSZ kills most programs at the size limit; those that ignore it (Python) see EFBIG.
    if code == -signal.SIGXFSZ or (code != 0 and "File too large" in completed.stderr):
        raise SandboxError(f"output larger than {limits.max_output_mb} MB")
    if code == -signal.SIGXCPU:
        raise SandboxError(f"{what} exceeded {limits.timeout_s:g} s")
    if code != 0 and any(sign in completed.stderr for sign in _MEMORY_SIGNS):
        raise SandboxError(f"{what} exceeded the {limits.memory_mb} MB memory limit")
    if code in (-signal.SIGSEGV, -signal.SIGABRT, -signal.SIGKILL):
        # A program that cannot get memory under RLIMIT_AS usually dies this way.
        raise SandboxError(
            f"{what} crashed (signal {-code}); it may have exceeded the "
            f"{limits.memory_mb} MB memory limit"
        )
