"""The sandbox and the OpenSCAD render under it, with real processes: limits, no network, no
files outside the model's own, typed parameters (docs/production.md#limits-and-sandbox)."""

import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from fabflow.production import mesh, openscad_render, render, sandbox

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


# OpenSCAD under the sandbox ------------------------------------------------------------------

CUBE = "size = 10;\ncube(size);\n"


@pytest.mark.production_programs
def test_openscad_renders_typed_values_as_literals():
    stl = openscad_render.render_stl(CUBE, {"size": 12.5}, resolution=16)

    checks = mesh.checks(mesh.load(stl, "stl"))
    assert checks["bboxMm"] == [12.5, 12.5, 12.5]
    assert checks["watertight"] is True


@pytest.mark.production_programs
def test_a_quote_in_a_string_parameter_stays_a_string():
    # given a model that sizes a cube by the length of its label
    source = 'label = "x";\ncube(len(label));\n'
    injection = '"); cube(1000); echo("'

    # when the label tries to close the string and add a cube
    stl = openscad_render.render_stl(source, {"label": injection})

    # then it is a string of 22 characters: one 22 mm cube, no 1000 mm cube
    assert mesh.checks(mesh.load(stl, "stl"))["bboxMm"] == [22.0, 22.0, 22.0]
    assert len(injection) == 22


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, "true"),
        (17, "17"),
        (0.1, "0.1"),
        (1e-07, "1e-07"),
        ('a"b\\c\nd', '"a\\"b\\\\c\\nd"'),
        ([1, 2.5], "[1, 2.5]"),
    ],
)
def test_openscad_literals(value, expected):
    assert openscad_render.literal(value) == expected


def test_a_name_that_is_not_a_variable_is_refused():
    with pytest.raises(openscad_render.OpenScadError, match="not an OpenSCAD variable name"):
        openscad_render.defines({"size=1; cube(1000); x": 1})


@pytest.mark.production_programs
def test_a_model_that_loops_forever_is_stopped():
    source = "x = [for (i = [0:1:99999]) for (j = [0:1:99999]) if (i < 0) i];\ncube(1);\n"
    started = time.monotonic()

    with pytest.raises(sandbox.SandboxError) as failure:
        sandbox.run(
            ["openscad", "-o", "out.stl", "model.scad"],
            files={"model.scad": source.encode()},
            timeout_s=2,
        )

    assert failure.value.reason == "render exceeded 2 s"
    assert time.monotonic() - started < 10


@pytest.mark.production_programs
def test_a_model_that_takes_too_much_memory_fails(settings):
    # given 10 million vectors of four numbers: far more than 200 MB
    settings.FABFLOW_RENDER_MEMORY_MB = 200
    source = "a = [for (i = [0:1:99999]) for (j = [0:1:99]) [i, j, i, j]];\ncube(1);"

    with pytest.raises(sandbox.SandboxError) as failure:
        openscad_render.render_stl(source, {})

    assert failure.value.reason == "render exceeded the 200 MB memory limit"


@pytest.mark.production_programs
def test_a_model_too_big_to_write_fails(settings):
    # given an output limit of 1 MB and a model of ~40,000 triangles (ASCII STL: ~10 MB)
    settings.FABFLOW_RENDER_MAX_OUTPUT_MB = 1
    source = "sphere(r = 10, $fn = 200);"

    with pytest.raises(sandbox.SandboxError) as failure:
        openscad_render.render_stl(source, {})

    assert failure.value.reason == "output larger than 1 MB"


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        (
            'import("/etc/passwd");',
            "the model reads /etc/passwd, which is not one of its own files",
        ),
        # a path the upload check cannot see: computed at render time
        ('import(str("/etc/", "hostname"));', "the model reads /etc/hostname, which is not one"),
        ("include </etc/fabflow-missing.scad>\ncube(1);", "blocked: Can't open include file"),
        ("use <MCAD/units.scad>\ncube(1);", "blocked: Can't open library 'MCAD/units.scad'"),
        ('import("parts.stl");', "blocked: Can't open import file 'parts.stl'"),
        ('surface(file = "/etc/hostname");', "the model reads /etc/hostname"),
    ],
)
@pytest.mark.production_programs
def test_a_model_cannot_read_files_that_are_not_its_own(source, reason):
    with pytest.raises(openscad_render.OpenScadError) as failure:
        openscad_render.render_stl(source, {})

    assert failure.value.reason.startswith(reason)


@pytest.mark.production_programs
def test_an_existing_file_outside_the_model_is_refused_even_if_it_renders(tmp_path):
    # given a valid STL outside the sandbox
    outside = tmp_path / "secret.stl"
    outside.write_bytes(openscad_render.render_stl(CUBE, {}))

    with pytest.raises(openscad_render.OpenScadError) as failure:
        openscad_render.render_stl(f'import("{outside}");', {})

    assert failure.value.reason == f"the model reads {outside}, which is not one of its own files"


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("cube(;", "openscad: Parser error"),
        ("cube(0);", "the model is empty: it makes no 3D object"),
        ("square(2);", "openscad failed: Current top level object is not a 3D object."),
    ],
)
@pytest.mark.production_programs
def test_a_model_that_does_not_compile_fails_with_its_message(source, reason):
    with pytest.raises(openscad_render.OpenScadError) as failure:
        openscad_render.render_stl(source, {})

    assert failure.value.reason.startswith(reason)


def test_openscad_missing_is_named(settings, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")

    with pytest.raises(sandbox.SandboxError) as failure:
        openscad_render.render_stl(CUBE, {})

    assert failure.value.reason == "openscad is not installed"


# Python generators ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "refused"),
    [
        ("open('/etc/hostname').read()", "may not open /etc/hostname"),
        ("open('/tmp/fabflow-escape', 'w')", "may not open /tmp/fabflow-escape"),
        ("import socket; socket.socket().connect(('127.0.0.1', 9))", "may not use socket.connect"),
        ("import subprocess; subprocess.run(['true'])", "may not use subprocess.Popen"),
    ],
)
def test_a_generator_process_may_not_reach_outside(code, refused):
    script = (
        "from fabflow.production.generate_child import install_audit_hook\n"
        f"install_audit_hook()\nopen('mine.txt', 'w').write('ok')\n{code}\n"
    )

    completed = sandbox.run([sys.executable, "-c", script])

    assert completed.returncode == 1
    assert f"PermissionError: a model generator {refused}" in completed.stderr
    assert completed.outputs == {"mine.txt": b"ok"}


# The render cache ----------------------------------------------------------------------------


def _version(source: str = CUBE) -> SimpleNamespace:
    parameters = [{"name": "size", "type": "number", "default": 10, "min": 1, "max": 50}]
    return SimpleNamespace(
        id=uuid.uuid4(), model=SimpleNamespace(kind="openscad"), source=source,
        generator="", parameters=parameters,
    )  # fmt: skip


@pytest.mark.production_programs
def test_a_preview_is_rendered_once_per_configuration():
    version = _version()
    started = sandbox.runs["openscad"]

    first = render.preview_png(version, {"size": "12"})
    again = render.preview_png(version, {"size": 12.0, "unknown": "ignored"})

    assert first == again
    assert first.startswith(b"\x89PNG")
    assert sandbox.runs["openscad"] == started + 1


@pytest.mark.production_programs
def test_a_cached_render_without_preview_gets_one_without_rendering_again():
    version = _version()
    first = render.render_cached(version, {}, "stl", preview=False)
    started = sandbox.runs["openscad"]

    again = render.render_cached(version, {}, "stl", preview=True)

    assert (first.cache_hit, first.preview_png) == (False, None)
    assert again.cache_hit is True
    assert again.preview_png is not None and again.mesh_bytes == first.mesh_bytes
    assert sandbox.runs["openscad"] == started


def test_the_cache_key_depends_on_version_values_format_and_resolution():
    key = render.cache_key("v1", {"a": 1, "b": "x"}, "stl", None)

    assert key == render.cache_key("v1", {"b": "x", "a": 1}, "stl", None)
    others = [
        render.cache_key("v2", {"a": 1, "b": "x"}, "stl", None),
        render.cache_key("v1", {"a": 2, "b": "x"}, "stl", None),
        render.cache_key("v1", {"a": 1, "b": "x"}, "3mf", None),
        render.cache_key("v1", {"a": 1, "b": "x"}, "stl", 64),
    ]
    assert key not in others and len(set(others)) == 4


@pytest.mark.production_programs
def test_another_format_of_a_cached_render_is_converted_not_rendered():
    version = _version()
    render.render_cached(version, {"size": 20}, "stl")
    started = sandbox.runs["openscad"]

    converted = render.render_cached(version, {"size": 20}, "3mf")

    assert converted.cache_hit is True
    assert sandbox.runs["openscad"] == started
    assert mesh.checks(mesh.load(converted.mesh_bytes, "3mf"))["bboxMm"] == [20.0, 20.0, 20.0]
