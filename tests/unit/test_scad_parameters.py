"""OpenSCAD customizer parameters, visible imports and the syntax check (production/scad.py)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from fabflow.production.scad import (
    Import,
    SyntaxProblem,
    check_syntax,
    read_parameters,
    visible_imports,
)

OPENSCAD = shutil.which("openscad")


def params(source: str) -> list[dict[str, Any]]:
    return [p.as_json() for p in read_parameters(source).parameters]


def one(source: str) -> dict[str, Any]:
    found = params(source)
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # types from the default
        ("size = 17;", {"name": "size", "type": "number", "default": 17}),
        ("size = 17.5;", {"name": "size", "type": "number", "default": 17.5}),
        ("size = .5;", {"name": "size", "type": "number", "default": 0.5}),
        ("size = 1e2;", {"name": "size", "type": "number", "default": 100}),
        ("size = -3;", {"name": "size", "type": "number", "default": -3}),
        ('m = "silver";', {"name": "m", "type": "string", "default": "silver"}),
        ('m = "a\\"b\\\\c";', {"name": "m", "type": "string", "default": 'a"b\\c'}),
        ('m = "";', {"name": "m", "type": "string", "default": ""}),
        ("on = true;", {"name": "on", "type": "boolean", "default": True}),
        ("on = false; // [a, b]", {"name": "on", "type": "boolean", "default": False}),
        # sliders
        (
            "size = 17; // [10:0.5:25]",
            {"name": "size", "type": "number", "default": 17, "min": 10, "max": 25, "step": 0.5},
        ),
        (
            "size = 17; // [10:25]",
            {"name": "size", "type": "number", "default": 17, "min": 10, "max": 25},
        ),
        (
            "t = 0; // [-10:0.1:10]",
            {"name": "t", "type": "number", "default": 0, "min": -10, "max": 10, "step": 0.1},
        ),
        ("size = 17; // [50]", {"name": "size", "type": "number", "default": 17, "max": 50}),
        (
            "size=17;//[10:25]",
            {"name": "size", "type": "number", "default": 17, "min": 10, "max": 25},
        ),
        # spin box step and text box length
        ("n = 2; // 0.5", {"name": "n", "type": "number", "default": 2, "step": 0.5}),
        (
            'label = "J+A"; // 12',
            {"name": "label", "type": "string", "default": "J+A", "maxLength": 12},
        ),
        # drop-downs
        (
            'm = "silver"; // [silver, gold]',
            {"name": "m", "type": "string", "default": "silver", "choices": ["silver", "gold"]},
        ),
        (
            'm = "a b"; // ["a b", "c"]',
            {"name": "m", "type": "string", "default": "a b", "choices": ["a b", "c"]},
        ),
        (
            "n = 20; // [10, 20, 30]",
            {"name": "n", "type": "number", "default": 20, "choices": [10, 20, 30]},
        ),
        (
            'sz = "S"; // [S:Small, L:Large]',
            {
                "name": "sz",
                "type": "string",
                "default": "S",
                "choices": ["S", "L"],
                "labels": ["Small", "Large"],
            },
        ),
        (
            "w = 10; // [10:L, 20:M, 30:XL]",
            {
                "name": "w",
                "type": "number",
                "default": 10,
                "choices": [10, 20, 30],
                "labels": ["L", "M", "XL"],
            },
        ),
        (
            'code = "10"; // [10, 20]',
            {"name": "code", "type": "string", "default": "10", "choices": ["10", "20"]},
        ),
        # ordinary comments are not annotations
        ("size = 17; // mm", {"name": "size", "type": "number", "default": 17}),
        ("size = 17; /* [10:25] */", {"name": "size", "type": "number", "default": 17}),
    ],
)
def test_one_assignment_and_its_annotation(source: str, expected: dict[str, Any]) -> None:
    # given one annotated assignment / when read / then the parameter is exactly this
    assert one(source) == expected


@pytest.mark.parametrize(
    "source",
    [
        "size = 2 * 3;",  # computed
        "size = other;",
        "v = [1, 2, 3];",  # a vector keeps its value
        "r = [0:10];",
        "$fn = 64;",  # special variables are not parameters
        "x = undef;",
        "cube(10);",
        "function f(x) = x;",
        "if (true) a = 1;",
        "a = 1",  # no semicolon: not a statement
        "// a = 1;",
        "/* a = 1; */",
        's = "a = 1;";',
    ],
)
def test_what_is_not_a_parameter(source: str) -> None:
    names = [p["name"] for p in params(source)]
    assert names in ([], ["s"]), names


def test_only_assignments_before_the_first_brace_are_parameters() -> None:
    # given assignments around the first `{` (a module definition)
    source = "a = 1;\nmodule m() {\n  b = 2;\n}\nc = 3;\nm();\n"
    # then only the one before it is a parameter (OpenSCAD's customizer stops at the brace)
    assert [p["name"] for p in params(source)] == ["a"]


def test_a_brace_inside_a_string_or_comment_does_not_stop_the_parameters() -> None:
    source = 'a = "{"; // [{, b]\n/* { */\n// {\nb = 2;\nc = 3; { }\nd = 4;\n'
    assert [p["name"] for p in params(source)] == ["a", "b"]


def test_the_assignment_on_the_line_of_the_first_brace_is_not_a_parameter() -> None:
    assert [p["name"] for p in params("a = 1;\nb = 2; module m() {}\n")] == ["a"]


def test_a_statement_without_braces_does_not_stop_the_parameters() -> None:
    assert [p["name"] for p in params("a = 1;\ncube(a);\nb = 2;\n")] == ["a", "b"]


def test_groups_descriptions_and_hidden() -> None:
    # given groups, a hidden group and descriptions on the line above
    source = """\
// The inner diameter
size = 17; // [10:0.5:25]

// not a description: a blank line follows

width = 4;
/* [Engraving] */
// Text inside the band
text = "J+A"; // 12
depth = 0.4; // [0:0.1:1]
/* [Hidden] */
fn = 96;
/* [Shape] [Advanced] */
bevel = true;
/* plain comment */
loose = 1;
"""
    # when read
    found = params(source)
    # then every parameter has its group and description; the hidden one is absent
    assert found == [
        {
            "name": "size",
            "type": "number",
            "default": 17,
            "min": 10,
            "max": 25,
            "step": 0.5,
            "description": "The inner diameter",
        },
        {"name": "width", "type": "number", "default": 4},
        {
            "name": "text",
            "type": "string",
            "default": "J+A",
            "maxLength": 12,
            "group": "Engraving",
            "description": "Text inside the band",
        },
        {
            "name": "depth",
            "type": "number",
            "default": 0.4,
            "min": 0,
            "max": 1,
            "step": 0.1,
            "group": "Engraving",
        },
        {"name": "bevel", "type": "boolean", "default": True, "group": "Shape-Advanced"},
        {"name": "loose", "type": "number", "default": 1},
    ]


def test_a_variable_assigned_twice_keeps_its_place_and_its_last_value() -> None:
    assert params("a = 1;\nb = 2;\na = 3;\n") == [
        {"name": "a", "type": "number", "default": 3},
        {"name": "b", "type": "number", "default": 2},
    ]


def test_a_hidden_variable_after_the_hidden_header_only() -> None:
    assert [p["name"] for p in params("/* [Hidden] */ a = 1;\nb = 2;\n")] == ["a"]


@pytest.mark.parametrize(
    ("source", "warning"),
    [
        ("v = [1, 2];", "line 1: v is a vector; only numbers, strings and booleans are parameters"),
        ("s = 30; // [10:25]", "line 1: s: the default 30 is outside [10:25]"),
        ("s = 10; // [25:10]", "line 1: s: the range [25:10] is empty"),
        ("s = 10; // [0:-1:25]", "line 1: s: the step -1 is not positive"),
        ('m = "x"; // [silver, gold]', "line 1: m: the default 'x' is not one of the choices"),
        ("n = 1; // [1, b]", "line 1: n: the choice 'b' is not a number"),
        ("n = 1; // [1:a, 2]", "line 1: n: some choices have labels and some do not"),
        ("n = 1; // [1:a:b, 2]", "line 1: n: a choice has more than one label"),
        ("n = 1; // []", "line 1: n: an empty list"),
    ],
)
def test_an_annotation_that_does_not_fit_is_ignored_with_a_warning(
    source: str, warning: str
) -> None:
    reading = read_parameters(source)
    # then the warning names the line and the variable
    assert len(reading.warnings) == 1
    assert reading.warnings[0].startswith(warning)
    # and a parameter with an ignored annotation keeps only its default
    for found in reading.parameters:
        assert set(found.as_json()) == {"name", "type", "default"}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("include <MCAD/units.scad>\n", [Import("include", "MCAD/units.scad", 1)]),
        ("a = 1;\nuse<lib.scad>\n", [Import("use", "lib.scad", 2)]),
        ('import("ring.stl");', [Import("import", "ring.stl", 1)]),
        ('import(file = "/etc/passwd");', [Import("import", "/etc/passwd", 1)]),
        ('import(str(name, ".stl"));', [Import("import", "(computed)", 1)]),
        ('surface(file = "h.dat");', [Import("surface", "h.dat", 1)]),
        ('import_stl("a.stl");', [Import("import_stl", "a.stl", 1)]),
        ("// include <x.scad>\n/* use <y.scad> */\n", []),
        ('s = "include <x.scad>";', []),
        ("module import_box() {}\nimport_box();", []),
        ("cube(10);", []),
    ],
)
def test_visible_imports(source: str, expected: list[Import]) -> None:
    assert visible_imports(source) == expected


needs_openscad = pytest.mark.skipif(OPENSCAD is None, reason="openscad is not installed")


@needs_openscad
@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("a = 1;\nb = ;\ncube(a);\n", SyntaxProblem(2, "syntax error")),
        ("a = 1;\nmodule m( {\n", SyntaxProblem(2, "syntax error")),
        ("a = 1;\n\ncube(a)\n", SyntaxProblem(4, "syntax error")),  # where openscad sees it
    ],
)
def test_openscad_finds_the_line_of_a_syntax_error(source: str, problem: SyntaxProblem) -> None:
    found, warnings = check_syntax(source)
    assert warnings == []
    assert found is not None and found.line == problem.line
    assert problem.message in found.message
    assert "model.scad" in found.message  # our private copy, never a path of the server


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ('a = 1;\nb = "open;\nc = 2;\n', SyntaxProblem(2, "unterminated string")),
        ("a = 1;\n/* open\n\n", SyntaxProblem(2, "unterminated comment")),
    ],
)
def test_an_open_string_or_comment_is_found_at_its_first_line(
    source: str, problem: SyntaxProblem
) -> None:
    assert check_syntax(source, openscad="/nonexistent/openscad") == (problem, [])


@needs_openscad
def test_a_valid_source_passes_the_syntax_check_quickly() -> None:
    import time

    started = time.monotonic()
    assert check_syntax("size = 17; // [10:25]\ncylinder(r = size, h = 2);\n") == (None, [])
    assert time.monotonic() - started < 5


def test_without_openscad_the_source_is_accepted_with_a_warning(tmp_path: Path) -> None:
    found = check_syntax("cube(", openscad=str(tmp_path / "no-openscad"))
    assert found == (None, ["openscad is not installed: syntax not checked"])


# Cross-check with OpenSCAD itself: its syntax-tree export writes the customizer's view of each
# assignment as //Parameter, //Group and //Description comments.
CROSS_CHECK = """\
// The inner diameter
size = 17; // [10:0.5:25]
width = 4; // [2:8]
material = "silver"; // [silver, gold]
/* [Engraving] */
// What to engrave
label = "J+A"; // 12
depth = -0.5;
computed = size * 2;
/* [Hidden] */
secret = 1;
/* [A] [B] */
flag = true;
v = [1, 2];
module ring() { cylinder(r = size, h = width); }
after = 5;
ring();
"""


@needs_openscad
def test_the_names_groups_and_descriptions_agree_with_openscad(tmp_path: Path) -> None:
    # given OpenSCAD's own reading of a model
    (tmp_path / "m.scad").write_text(CROSS_CHECK)
    subprocess.run(  # noqa: S603
        [str(OPENSCAD), "-o", "m.ast", "m.scad"], cwd=tmp_path, check=True, capture_output=True
    )
    theirs: dict[str, dict[str, str]] = {}
    pending: dict[str, str] = {}
    for line in (tmp_path / "m.ast").read_text().splitlines():
        note = re.match(r"//(Parameter|Group|Description)\((.*)\)$", line)
        assigned = re.match(r"(\w+) = ", line)
        if note:
            pending[note.group(1)] = note.group(2).strip('"')
        elif assigned and "Parameter" in pending:
            theirs[assigned.group(1)] = pending
            pending = {}
        else:
            pending = {}
    shown = {
        name: (notes.get("Group"), notes.get("Description"))
        for name, notes in theirs.items()
        if notes.get("Group") != "Hidden" and name != "v"  # vectors: not ours
    }
    # when we read the same source
    ours = {p.name: (p.group, p.description) for p in read_parameters(CROSS_CHECK).parameters}
    # then the same variables are parameters, with the same groups and descriptions
    assert ours == shown
