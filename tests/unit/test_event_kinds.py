"""Timeline kinds are declared once (orders/kinds.py): no other module spells one out."""

from __future__ import annotations

import ast
from pathlib import Path

from fabflow.orders.kinds import EventKind

SRC = Path(__file__).resolve().parents[2] / "src" / "fabflow"
KINDS = {kind.value for kind in EventKind}


def test_no_module_but_kinds_spells_out_an_event_kind() -> None:
    # given every Python module of the source tree but the declaration (templates may compare
    # with the values)
    spelled = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "kinds.py" or "migrations" in path.parts:
            continue
        # when its string constants are compared with the kinds
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and node.value in KINDS:
                spelled.append(f"{path.relative_to(SRC)}:{node.lineno} {node.value}")
    # then none is a kind's value
    assert spelled == []


def test_the_kinds_keep_their_stored_values() -> None:
    # stored in every timeline and sent to every updateUrl: renaming one breaks clients
    assert len(KINDS) == len(EventKind) == 24
    assert {k.split(".")[0] for k in KINDS} == {
        "order",
        "flow",
        "stage",
        "task",
        "asset",
        "connector",
        "template",
        "action",
    }
