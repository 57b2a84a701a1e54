"""OpenSCAD source reading: customizer parameters, visible imports and a syntax check.

The parameters follow OpenSCAD's customizer (its CommentParser): a parameter is a top-level
assignment of a literal written before the first `{` of the file; its annotation is the `//`
comment after it on the same line, its description a whole-line `//` comment just above it,
its group the nearest single-line `/* [Group] */` comment above it (`[Hidden]` hides it).
The syntax check runs OpenSCAD in the production sandbox (its limits are settings); the rest
is plain Python, tested on its own (tests/unit/test_scad_parameters.py).
"""

from __future__ import annotations

import math
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fabflow.production import sandbox

HIDDEN_GROUP = "Hidden"
# Calls that read a file when the model is rendered (`import`, and the file= of the others).
FILE_READERS = frozenset(
    ["import", "import_stl", "import_off", "import_dxf", "surface", "dxf_linear_extrude"]
)
SYNTAX_CHECK_TIMEOUT_S = 10.0

_TOKEN = re.compile(
    r"""
    (?P<newline>\n)
    | (?P<space>[ \t\r\f\v]+)
    | (?P<line_comment>//[^\n]*)
    | (?P<block_comment>/\*.*?(?:\*/|\Z))
    | (?P<library>\b(?:include|use)[ \t\r\n]*<[^>\n]*>?)
    | (?P<string>"(?:[^"\\]|\\.)*(?:"|\Z))
    | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    | (?P<ident>\$?[A-Za-z_][A-Za-z0-9_]*)
    | (?P<op>==|!=|<=|>=|&&|\|\|)
    | (?P<punct>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


@dataclass(frozen=True, eq=False)
class Token:
    kind: str
    text: str
    line: int
    first_on_line: bool


@dataclass
class Parameter:
    """One customizer parameter, as the API shows it (`as_json`)."""

    name: str
    type: str  # number | string | boolean
    default: Any
    min: float | None = None
    max: float | None = None
    step: float | None = None
    choices: list[Any] | None = None
    labels: list[str] | None = None
    max_length: int | None = None
    group: str | None = None
    description: str | None = None
    line: int = 0

    def as_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {"name": self.name, "type": self.type, "default": self.default}
        optional = {
            "min": self.min,
            "max": self.max,
            "step": self.step,
            "choices": self.choices,
            "labels": self.labels,
            "maxLength": self.max_length,
            "group": self.group,
            "description": self.description,
        }
        found.update({key: value for key, value in optional.items() if value is not None})
        return found


@dataclass
class Reading:
    """What the source declares: its parameters, and warnings about what was left out."""

    parameters: list[Parameter] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Import:
    """A file the source reads: `include <x>`, `use <x>` or `import("x")` (target as written)."""

    kind: str
    target: str
    line: int


@dataclass(frozen=True)
class SyntaxProblem:
    line: int | None
    message: str


def tokens(source: str) -> list[Token]:
    """The source's tokens with their line, whitespace dropped, comments kept."""
    found: list[Token] = []
    line, first = 1, True
    for match in _TOKEN.finditer(source):
        kind, text = match.lastgroup or "punct", match.group()
        if kind == "newline":
            line, first = line + 1, True
            continue
        if kind != "space":
            found.append(Token(kind, text, line, first))
            first = False
        line += text.count("\n")
    return found


def read_parameters(source: str) -> Reading:
    """The customizer parameters of `source`, in source order."""
    toks = tokens(source)
    stop = next((t.line for t in toks if t.text == "{"), math.inf)
    code = [t for t in toks if t.kind not in ("line_comment", "block_comment")]
    after = {id(t): toks[i + 1] for i, t in enumerate(toks[:-1])}
    line_starts = {t.line: t for t in toks if t.first_on_line}
    groups = [(t.line, _group_name(t)) for t in toks if _is_group_header(t)]
    reading = Reading()
    by_name: dict[str, int] = {}
    for statement in _statements(code):
        if statement[0].line >= stop:
            break
        found = _parameter(statement, reading.warnings)
        if found is None:
            continue
        _annotate(found, statement[-1], after.get(id(statement[-1])), reading.warnings)
        found.description = _description(line_starts.get(found.line - 1))
        found.group = next((name for line, name in reversed(groups) if line < found.line), None)
        if found.group == HIDDEN_GROUP:
            continue
        if found.name in by_name:  # OpenSCAD: the last assignment wins
            reading.parameters[by_name[found.name]] = found
        else:
            by_name[found.name] = len(reading.parameters)
            reading.parameters.append(found)
    return reading


def _statements(code: list[Token]) -> list[list[Token]]:
    """Top-level statements: split at `;` outside brackets; `include <>`/`use <>` stand
    alone."""
    found: list[list[Token]] = []
    current: list[Token] = []
    depth = 0
    for token in code:
        if token.kind == "library" and not current:
            found.append([token])
            continue
        current.append(token)
        if token.kind != "punct":
            continue
        if token.text in ("(", "[", "{"):
            depth += 1
        elif token.text in (")", "]", "}"):
            depth = max(depth - 1, 0)
        elif token.text == ";" and depth == 0:
            found.append(current)
            current = []
    return found


def _parameter(statement: list[Token], warnings: list[str]) -> Parameter | None:
    """`name = literal;` as a parameter with its default, or None."""
    if len(statement) < 4 or statement[0].kind != "ident" or statement[1].text != "=":
        return None
    name, value, line = statement[0].text, statement[2:-1], statement[0].line
    if name.startswith("$") or statement[-1].text != ";":
        return None
    texts = [t.text for t in value]
    if len(value) == 1 and value[0].kind == "number":
        return Parameter(name, "number", _number(value[0].text), line=line)
    if len(value) == 2 and texts[0] == "-" and value[1].kind == "number":
        return Parameter(name, "number", -_number(value[1].text), line=line)
    if len(value) == 1 and value[0].kind == "string":
        return Parameter(name, "string", _unquote(value[0].text), line=line)
    if texts in (["true"], ["false"]):
        return Parameter(name, "boolean", texts[0] == "true", line=line)
    if texts and texts[0] == "[" and texts[-1] == "]" and _is_literal_vector(value):
        warnings.append(
            f"line {statement[0].line}: {name} is a vector; only numbers, strings and "
            "booleans are parameters, so it keeps its value"
        )
    return None


def _is_literal_vector(value: list[Token]) -> bool:
    return all(
        t.kind in ("number", "string") or t.text in ("true", "false", "[", "]", ",", "-")
        for t in value
    )


def _number(text: str) -> int | float:
    number = float(text)
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def _unquote(text: str) -> str:
    body = text[1:-1] if len(text) >= 2 and text.endswith('"') else text[1:]
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)


def _annotate(found: Parameter, end: Token, after: Token | None, warnings: list[str]) -> None:
    """Apply the `//` comment right after the statement's `;` on the same line."""
    if after is None or after.kind != "line_comment" or after.line != end.line:
        return
    text = after.text[2:].strip()
    problem = _apply_annotation(found, text)
    if problem:
        warnings.append(f"line {found.line}: {found.name}: {problem}; the annotation is ignored")


def _apply_annotation(found: Parameter, text: str) -> str | None:
    """Read `[min:step:max]`, `[min:max]`, `[max]`, `[a, b]`, `[v:label, ...]` or a bare
    number (a number's step, a string's length); other comments are not annotations."""
    if found.type == "boolean":
        return None
    if not text.startswith("["):
        bare = _as_number(text)
        if bare is None or bare <= 0:
            return None
        if found.type == "number":
            found.step = bare
        elif float(bare).is_integer():
            found.max_length = int(bare)
        return None
    if not text.endswith("]"):
        return None
    items = [_split(item, ":") for item in _split(text[1:-1], ",")]
    if not items or items == [[""]]:
        return "an empty list"
    if len(items) == 1 and found.type == "number":
        numbers = [_as_number(part) for part in items[0]]
        if all(n is not None for n in numbers) and len(numbers) in (1, 2, 3):
            return _range(found, [n for n in numbers if n is not None])
    return _choices(found, items)


def _range(found: Parameter, numbers: list[int | float]) -> str | None:
    if len(numbers) == 1:
        if found.default > numbers[0]:
            return f"the default {found.default} is over the maximum {numbers[0]}"
        found.max = numbers[0]
        return None
    low, high = numbers[0], numbers[-1]
    step = numbers[1] if len(numbers) == 3 else None
    if low > high:
        return f"the range [{low}:{high}] is empty"
    if step is not None and step <= 0:
        return f"the step {step} is not positive"
    if not low <= found.default <= high:
        return f"the default {found.default} is outside [{low}:{high}]"
    found.min, found.max, found.step = low, high, step
    return None


def _choices(found: Parameter, items: list[list[str]]) -> str | None:
    if any(len(item) > 2 for item in items):
        return "a choice has more than one label"
    values: list[Any] = []
    for item in items:
        raw = _unquote(item[0]) if item[0].startswith('"') else item[0]
        if found.type == "number":
            number = _as_number(raw)
            if number is None:
                return f"the choice {raw!r} is not a number"
            values.append(number)
        else:
            values.append(raw)
    labels = [_unquote(i[1]) if i[1].startswith('"') else i[1] for i in items if len(i) == 2]
    if labels and len(labels) != len(items):
        return "some choices have labels and some do not"
    if found.default not in values:
        return f"the default {found.default!r} is not one of the choices"
    found.choices = values
    found.labels = labels or None
    return None


def _split(text: str, separator: str) -> list[str]:
    """Split at `separator` outside double quotes; parts stripped."""
    parts, current, quoted = [], "", False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == separator and not quoted:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    parts.append(current.strip())
    return parts


def _as_number(text: str) -> int | float | None:
    if not re.fullmatch(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", text.strip()):
        return None
    return _number(text)


def _description(first_on_line: Token | None) -> str | None:
    """A whole-line `//` comment on the line just above the assignment."""
    if first_on_line is None or first_on_line.kind != "line_comment":
        return None
    return first_on_line.text[2:].replace("//", " ").strip() or None


def _is_group_header(token: Token) -> bool:
    """A block comment on one line is a group header (`/* [Size] */`), as in OpenSCAD."""
    return token.kind == "block_comment" and "\n" not in token.text


def _group_name(token: Token) -> str | None:
    """Several brackets join with `-` as in OpenSCAD; no bracket: no group."""
    return "-".join(n.strip() for n in re.findall(r"\[(.*?)\]", token.text)) or None


def visible_imports(source: str) -> list[Import]:
    """Every `include <>`, `use <>` and file-reading call written in the source."""
    code = [t for t in tokens(source) if t.kind not in ("line_comment", "block_comment")]
    found: list[Import] = []
    for index, token in enumerate(code):
        if token.kind == "library":
            kind, _, rest = token.text.partition("<")
            found.append(Import(kind.strip(), rest.rstrip(">").strip(), token.line))
        elif token.kind == "ident" and token.text in FILE_READERS:
            following = code[index + 1 : index + 5]
            if following and following[0].text == "(":
                found.append(Import(token.text, _file_argument(following[1:]), token.line))
    return found


def _file_argument(after: list[Token]) -> str:
    """The file named by a call's first argument or its `file =`, else `(computed)`."""
    texts = [t.text for t in after]
    if after and after[0].kind == "string":
        return _unquote(after[0].text)
    if texts[:2] == ["file", "="] and len(after) > 2 and after[2].kind == "string":
        return _unquote(after[2].text)
    return "(computed)"


def _unterminated(source: str) -> SyntaxProblem | None:
    """A string or comment left open, at the line it starts (OpenSCAD names a later one)."""
    for token in tokens(source):
        if token.kind == "string" and (len(token.text) < 2 or not token.text.endswith('"')):
            return SyntaxProblem(token.line, "unterminated string")
        if token.kind == "block_comment" and (len(token.text) < 4 or not token.text.endswith("*/")):
            return SyntaxProblem(token.line, "unterminated comment")
    return None


_PARSER_ERROR = re.compile(r"ERROR: (?P<message>.*?line (?P<line>\d+).*)")


def check_syntax(
    source: str, *, openscad: str | None = None, timeout_s: float | None = None
) -> tuple[SyntaxProblem | None, list[str]]:
    """Let OpenSCAD parse the source (no evaluation: it exports the syntax tree) in a private
    directory; a parser error comes back with its line. Call it only on a source without
    visible imports: OpenSCAD reads `include <>` files while it parses."""
    unterminated = _unterminated(source)
    if unterminated is not None:
        return unterminated, []
    program = openscad or shutil.which("openscad")
    if program is None or not Path(program).exists():
        return None, ["openscad is not installed: syntax not checked"]
    # In the sandbox like a render: a source is a stranger's until it is saved.
    env = {"HOME": "{workdir}", "OPENSCADPATH": "{workdir}", "LANG": "C.UTF-8"}
    try:
        done = sandbox.run(
            [program, "-o", "model.ast", "model.scad"],
            files={"model.scad": source.encode("utf-8")},
            env=env,
            timeout_s=timeout_s or SYNTAX_CHECK_TIMEOUT_S,
            what="the syntax check",
        )
    except sandbox.SandboxError as exc:
        return None, [f"{exc.reason}: syntax not checked"]
    if done.returncode == 0:
        return None, []
    output = done.stderr + done.stdout
    match = _PARSER_ERROR.search(output)
    if match:
        # OpenSCAD may name the line after the end for an unterminated string or comment.
        line = min(int(match.group("line")), source.count("\n") + 1)
        return SyntaxProblem(line, match.group("message").strip()), []
    lines = [x for x in output.splitlines() if x.startswith("ERROR")] or output.splitlines()
    return SyntaxProblem(None, (lines[0] if lines else "openscad could not parse it")[:500]), []
