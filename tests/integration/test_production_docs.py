"""docs/production.md's flow examples: the first is the demo's ring-flow, and both validate."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from fabflow.demo.production import RING_FLOW
from tests.factories import ApiClient

DOC = Path(__file__).parents[2] / "docs" / "production.md"


def flow_examples() -> list[Any]:
    """The flow definitions (JSON arrays) of the page's "A flow" section."""
    section = DOC.read_text().split("## A flow:", 1)[1]
    blocks = re.findall(r"```json\n(.*?)```", section, flags=re.S)
    return [json.loads(block) for block in blocks if block.lstrip().startswith("[")]


def test_the_documented_flow_is_the_demos_ring_flow() -> None:
    assert flow_examples()[0] == RING_FLOW


def test_the_documented_flows_are_valid(api: ApiClient) -> None:
    examples = flow_examples()
    assert len(examples) == 2
    for example in examples:
        response = api.post("/api/v1/flows/validate", {"definition": example})
        assert response.status_code == 200
        assert response.json()["errors"] == [], response.json()
