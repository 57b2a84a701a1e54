"""The `slice` handler with the real CuraEngine and Cura definitions: G-code and figures."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
import trimesh

from fabflow.orders.models import Asset, Order, Part
from tests.factories import ApiClient, Tenant
from tests.integration.test_engine import run, start

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def ring_stl() -> bytes:
    ring = trimesh.creation.annulus(r_min=8, r_max=10, height=3)
    return bytes(ring.export(file_type="stl"))


def slice_task(**payload: Any) -> dict[str, Any]:
    return {"key": "slice", "handlerKey": "slice", "payload": payload}


def products_with_stl() -> list[dict[str, Any]]:
    stl = base64.b64encode(ring_stl()).decode()
    band = {"name": "band", "assets": [{"name": "band.stl", "contentBase64": stl}]}
    return [{"name": "Ring", "units": 1, "value": "49.50", "parts": [band, {"name": "stone"}]}]


def sliced_order(api: ApiClient, tenant: Tenant, **payload: Any) -> Order:
    return start(api, tenant, [_stage(slice_task(**payload))], products=products_with_stl())


def _stage(task: dict[str, Any]) -> dict[str, Any]:
    return {"key": "s0", "name": "Stage 0", "taskDefinitions": [task]}


def test_slice_stores_gcode_next_to_the_stl_with_the_real_header(
    api: ApiClient, tenant: Tenant
) -> None:
    # given an order whose part "band" has an STL, and a flow that slices for an Ender-3
    order = sliced_order(api, tenant, settings={"layer_height": 0.2})
    # then the task succeeded and the G-code is an asset of the same part
    assert run(order, "slice").state == "succeeded", run(order, "slice").error
    stl = Asset.objects.get(order=order, name="band.stl")
    gcode = Asset.objects.get(order=order, name="band.gcode")
    assert (gcode.part_id, gcode.product_id) == (stl.part_id, stl.product_id)
    text = gcode.file.read().decode()
    seconds = int(re.search(r"^;TIME:(\d+)$", text, re.M).group(1))
    part = Part.objects.get(pk=stl.part_id)
    assert seconds == part.manufacturing_data["printTimeS"] > 0
    assert ";TIME:6666" not in text and "2.14748e+06" not in text
    assert ";Layer height: 0.2" in text
    assert ";MAXZ:3" in text.splitlines()[:12] or ";MAXZ:3.1" in text
