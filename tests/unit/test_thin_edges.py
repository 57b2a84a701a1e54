"""The web and API edges stay thin: no `views.py` or `api.py` queries a model directly."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "fabflow"
EDGES = sorted([*SRC.glob("**/views.py"), *SRC.glob("**/api.py")])
# Shortcuts that take a model class and query it: as direct as `Model.objects`.
MODEL_SHORTCUTS = {"get_object_or_404", "get_list_or_404"}


def direct_queries(source: str) -> list[tuple[int, str]]:
    """(line, what) of every `<name>.objects` and model shortcut call in `source`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr == "objects":
            found.append((node.lineno, f"{ast.unparse(node)}"))
        elif isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else None
            name = node.func.id if isinstance(node.func, ast.Name) else name
            if name in MODEL_SHORTCUTS:
                found.append((node.lineno, f"{name}(...)"))
    return sorted(found)


def test_the_edges_are_found() -> None:
    # given the apps' edges, when they are listed, then each one this rule was written for is
    # there (a rename must not silently empty the check)
    names = {str(p.relative_to(SRC)) for p in EDGES}

    assert {
        "api.py",
        "accounts/views.py",
        "flows/api.py",
        "flows/views.py",
        "orders/api.py",
        "orders/views.py",
    } <= names


@pytest.mark.parametrize("path", EDGES, ids=lambda p: str(p.relative_to(SRC)))
def test_an_edge_reads_through_selectors(path: Path) -> None:
    # given a views.py or api.py, when its source is read, then it queries no model itself:
    # reads go through the app's selectors, writes through its services
    found = direct_queries(path.read_text())

    assert found == [], "\n".join(
        f"{path.relative_to(SRC.parent)}:{line}: {what}; call a selector or service instead"
        for line, what in found
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("rows = Order.objects.filter(pk=1)", [(1, "Order.objects")]),
        ("x = 1\nrun = models.TaskRun.objects.get(pk=1)", [(2, "models.TaskRun.objects")]),
        ("user = get_object_or_404(User, pk=1)", [(1, "get_object_or_404(...)")]),
        ("orders = selectors.orders_for(who).filter(pk=1)", []),
    ],
)
def test_the_check_names_each_direct_query(source: str, expected: list[tuple[int, str]]) -> None:
    # given a source line, when it is checked, then each direct query is named with its line
    assert direct_queries(source) == expected
