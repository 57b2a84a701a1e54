"""The sandbox and the OpenSCAD render under it, with real processes: limits, no network, no
files outside the model's own, typed parameters (docs/production.md#limits-and-sandbox)."""

import sys
import time
from pathlib import Path

import pytest

from fabflow.production import sandbox

pytestmark = pytest.mark.slow


def test_a_program_gets_its_files_and_returns_what_it_wrote():
    # given a program that reads an input and writes an output in its directory
    script = "open('out.txt', 'w').write(open('in.txt').read().upper())"

    # when it runs
    completed = sandbox.run([sys.executable, "-c", script], files={"in.txt": b"ring"})

    # then only the new file comes back
    assert completed.returncode == 0
    assert completed.outputs == {"out.txt": b"RING"}


def test_the_private_directory_is_the_home_and_is_deleted_afterwards():
    script = "import os; print(os.getcwd() == os.environ['HOME'], sorted(os.environ))"

    completed = sandbox.run([sys.executable, "-c", script])

    same, names = completed.stdout.split(" ", 1)
    assert same == "True"
    assert "DATABASE_URL" not in names and "DJANGO_SETTINGS_MODULE" not in names
    directory = sandbox.run([sys.executable, "-c", "import os; print(os.getcwd())"]).stdout
    assert not Path(directory.strip()).exists()


def test_a_program_that_runs_too_long_is_killed_with_its_children():
    started = time.monotonic()

    with pytest.raises(sandbox.SandboxError) as failure:
        sandbox.run(["sh", "-c", "sleep 60 & sleep 60"], timeout_s=1)

    assert failure.value.reason == "render exceeded 1 s"
    assert time.monotonic() - started < 5


def test_a_program_that_takes_too_much_memory_fails():
    with pytest.raises(sandbox.SandboxError) as failure:
        sandbox.run([sys.executable, "-c", "x = bytearray(600 * 1024 * 1024)"], memory_mb=300)

    assert failure.value.reason == "render exceeded the 300 MB memory limit"


def test_a_program_that_writes_too_much_fails():
    script = "open('big', 'wb').write(b'x' * 3 * 1024 * 1024)"

    with pytest.raises(sandbox.SandboxError) as failure:
        sandbox.run([sys.executable, "-c", script], max_output_mb=1)

    assert failure.value.reason == "output larger than 1 MB"


@pytest.mark.skipif(not sandbox.network_isolation(), reason="no user namespaces here")
def test_a_program_has_no_network():
    script = (
        "import socket\n"
        "try:\n socket.create_connection(('127.0.0.1', 22), timeout=2)\n"
        "except OSError as e: print(type(e).__name__, e.errno)\n"
    )

    completed = sandbox.run([sys.executable, "-c", script])

    # the namespace's loopback is down: not even a local port is reachable (ENETUNREACH)
    assert completed.stdout.split() == ["OSError", "101"]


def test_a_missing_program_is_named():
    with pytest.raises(sandbox.SandboxError) as failure:
        sandbox.run(["no-such-openscad"])

    assert failure.value.reason == "no-such-openscad is not installed"


def test_a_file_name_cannot_leave_the_directory():
    with pytest.raises(sandbox.SandboxError):
        sandbox.run(["true"], files={"../escape": b"x"})
