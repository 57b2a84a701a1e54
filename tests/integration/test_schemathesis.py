"""Property-based run over the OpenAPI document: no generated request may cause a 5xx."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.factories import make_tenant

MAX_EXAMPLES = os.environ.get("FABFLOW_FUZZ_EXAMPLES", "40")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_generated_requests_never_cause_a_server_error(live_server: Any, tmp_path: Path) -> None:
    # given a real threaded server and a valid key
    tenant = make_tenant("Fuzz", "fuzz-space")
    schemathesis = Path(sys.executable).parent / "schemathesis"
    # when schemathesis sends a bounded, seeded set of generated requests to every operation
    result = subprocess.run(  # noqa: S603
        [
            str(schemathesis),
            "run",
            f"{live_server.url}/api/openapi.json",
            "--url",
            live_server.url,
            "--checks",
            "not_a_server_error",
            "--max-examples",
            MAX_EXAMPLES,
            "--seed",
            "1",
            "--generation-database",
            "none",
            "--request-timeout",
            "30",
            "--no-color",
            "-H",
            f"Authorization: Bearer {tenant.secret}",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
        check=False,
    )
    # then it finds no server error
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
