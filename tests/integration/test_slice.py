"""The `slice` handler with the real CuraEngine and the distribution's Cura definitions."""

from __future__ import annotations

import base64
import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest
import trimesh
from django.test import Client

from fabflow.accounts.services import save_hidden_columns
from fabflow.flows.services import create_flow
from fabflow.orders.models import Asset, Order, Part, Product
from fabflow.production import cura
from tests.factories import ApiClient, Tenant, order_body
from tests.integration.test_engine import run, run_engine

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PLACEHOLDERS = (";TIME:6666", ";Filament used: 0m", "2.14748e+06")


def ring_stl() -> bytes:
    """A ring 20 mm across and 3 mm high, centred on the origin (half of it below z = 0)."""
    return bytes(trimesh.creation.annulus(r_min=8, r_max=10, height=3).export(file_type="stl"))


def inline(name: str) -> dict[str, str]:
    return {"name": name, "contentBase64": base64.b64encode(ring_stl()).decode()}


def products(part_assets: list[Any], product_assets: tuple[Any, ...] = ()) -> list[Any]:
    band = {"name": "band", "assets": part_assets}
    return [
        {
            "name": "Ring",
            "units": 1,
            "value": "49.50",
            "assets": list(product_assets),
            "parts": [band, {"name": "stone"}],
        }
    ]


def definition(**payload: Any) -> list[dict[str, Any]]:
    task = {"key": "slice", "handlerKey": "slice", "payload": payload}
    return [{"key": "s0", "name": "Stage 0", "taskDefinitions": [task]}]


def start(api: ApiClient, tenant: Tenant, flow: list[Any], products: list[Any]) -> Order:
    """An order with `products` running a new flow `flow`."""
    name = f"slicing-{Order.objects.count()}"
    create_flow(space=tenant.space, name=name, definition=flow)
    body = order_body(f"WEB-{Order.objects.count() + 1}", flowKey=name, products=products)
    response = api.post("/api/v1/orders", body)
    assert response.status_code == 201, response.content
    order = Order.objects.get(pk=response.json()["id"])
    run_engine(order)
    return order


def sliced(api: ApiClient, tenant: Tenant, **payload: Any) -> Order:
    body = products([inline("band.stl")])
    return start(api, tenant, definition(**payload), body)


def header(gcode: str) -> dict[str, str]:
    lines = [line for line in gcode.splitlines()[:40] if line.startswith(";") and ":" in line]
    return {key: value.strip() for key, value in (line[1:].split(":", 1) for line in lines)}


@pytest.mark.production_programs
def test_the_gcode_is_stored_next_to_its_stl_with_the_real_header(
    api: ApiClient, tenant: Tenant
) -> None:
    # given an order whose part "band" has an STL, and a flow slicing it for the default printer
    order = sliced(api, tenant, settings={"layer_height": 0.2})
    # then the task succeeded and the G-code is an asset of the same part
    task = run(order, "slice")
    assert task.state == "succeeded", task.reason
    stl = Asset.objects.get(order=order, name="band.stl")
    gcode = Asset.objects.get(order=order, name="band.gcode")
    assert (gcode.part_id, gcode.product_id, gcode.content_type) == (
        stl.part_id,
        stl.product_id,
        "text/x-gcode",
    )
    # and its header holds the engine's real figures, not the command line's placeholders
    text = gcode.file.read().decode()
    assert not any(placeholder in text for placeholder in PLACEHOLDERS)
    figures = header(text)
    data = Part.objects.get(pk=stl.part_id).manufacturing_data
    assert int(figures["TIME"]) == data["printTimeS"] > 0
    assert figures["Filament used"] == f"{float(figures['Filament used'][:-1]):g}m"
    assert abs(float(figures["Filament used"][:-1]) * 1000 - data["filamentMm"]) < 0.1
    assert figures["Layer height"] == "0.2"
    # the ring stands on the bed whole: centred on the origin, it is lifted, not cut at z = 0
    assert float(figures["MAXZ"]) == pytest.approx(3.0, abs=0.15)
    assert data["profile"] == "creality_ender3" and data["material"] == "PLA"
    assert task.result["sliced"] == [
        {"asset": "band.stl", "gcode": "band.gcode", "gcodeAssetId": str(gcode.id), **data}
    ]


@pytest.mark.production_programs
def test_slicing_again_replaces_the_gcode_instead_of_adding_a_copy(
    api: ApiClient, tenant: Tenant
) -> None:
    # given a flow that slices the same STL twice (as a task run again by staff does)
    again = {"key": "slice-again", "handlerKey": "slice", "payload": {"material": "ABS"}}
    flow = definition()
    flow[0]["taskDefinitions"][0]["next"] = [
        {"taskDefinitionKey": "slice-again", "trigger": "success"}
    ]
    flow[0]["taskDefinitions"].append(again)
    order = start(api, tenant, flow, products([inline("band.stl")]))
    # then both runs succeeded and the part has one G-code, the second run's
    assert run(order, "slice-again").state == "succeeded"
    [gcode] = Asset.objects.filter(order=order, name="band.gcode")
    assert Part.objects.get(order=order, name="band").manufacturing_data["material"] == "ABS"
    assert str(gcode.id) == run(order, "slice-again").result["sliced"][0]["gcodeAssetId"]


@pytest.mark.production_programs
def test_grams_follow_the_material_density(api: ApiClient, tenant: Tenant) -> None:
    # when the same ring is sliced in ABS (1.04 g/cm³)
    order = sliced(api, tenant, material="ABS")
    # then its weight is the filament's volume times that density, its length by 1.75 mm
    data = Part.objects.get(order=order, name="band").manufacturing_data
    volume_mm3 = data["filamentMm"] * 3.141592653589793 * (1.75 / 2) ** 2
    assert data["filamentG"] == pytest.approx(volume_mm3 / 1000 * 1.04, abs=0.01)
    assert data["material"] == "ABS"


@pytest.mark.production_programs
def test_a_setting_changes_what_depends_on_it(api: ApiClient, tenant: Tenant) -> None:
    # given a 20 x 20 x 10 mm box sliced with 10 % and with 90 % infill
    box = bytes(trimesh.creation.box(extents=(20, 20, 10)).export(file_type="stl"))
    asset = {"name": "band.stl", "contentBase64": base64.b64encode(box).decode()}
    orders = [
        start(api, tenant, definition(settings={"infill_sparse_density": d}), products([asset]))
        for d in (10, 90)
    ]
    # then the dense one takes more filament and time: the infill line distance followed the
    # density through Cura's formulas (CuraEngine's command line alone keeps the default)
    sparse, dense = (Part.objects.get(order=o, name="band").manufacturing_data for o in orders)
    assert dense["filamentG"] > 2 * sparse["filamentG"]
    assert dense["printTimeS"] > sparse["printTimeS"]


@pytest.mark.production_programs
def test_a_printer_with_two_extruders_slices_on_the_first(api: ApiClient, tenant: Tenant) -> None:
    # when the ring is sliced for an Ultimaker S5 (Griffin G-code, two extruder trains)
    order = sliced(api, tenant, profile="ultimaker_s5")
    # then the Griffin header has the real time and volume, and only one extruder is used
    assert run(order, "slice").state == "succeeded", run(order, "slice").reason
    text = Asset.objects.get(order=order, name="band.gcode").file.read().decode()
    figures = header(text)
    data = Part.objects.get(order=order, name="band").manufacturing_data
    assert int(figures["PRINT.TIME"]) == data["printTimeS"] > 0
    assert int(figures["EXTRUDER_TRAIN.0.MATERIAL.VOLUME_USED"]) > 0
    assert "EXTRUDER_TRAIN.1.MATERIAL.VOLUME_USED" not in figures
    assert figures["FLAVOR"] == "Griffin" and float(figures["PRINT.SIZE.MAX.Z"]) > 2.5


@pytest.mark.production_programs
def test_an_stl_of_a_product_gives_the_product_its_figures(api: ApiClient, tenant: Tenant) -> None:
    body = products([], (inline("ring.stl"),))
    order = start(api, tenant, definition(), body)
    assert run(order, "slice").state == "succeeded", run(order, "slice").reason
    product = Product.objects.get(order=order)
    gcode = Asset.objects.get(order=order, name="ring.gcode")
    assert (gcode.product_id, gcode.part_id) == (product.id, None)
    assert product.manufacturing_data["printTimeS"] > 0


def test_no_matching_stl_fails_the_task(api: ApiClient, tenant: Tenant) -> None:
    order = start(api, tenant, definition(filter=r"\.3mf$"), products([]))
    task = run(order, "slice")
    assert (task.state, task.reason) == ("failed", "no STL asset matches '\\\\.3mf$'")


def test_a_missing_engine_fails_with_the_install_hint(
    api: ApiClient, tenant: Tenant, settings: Any
) -> None:
    settings.FABFLOW_CURA_ENGINE = "CuraEngine-not-here"
    order = sliced(api, tenant)
    task = run(order, "slice")
    assert (task.state, task.reason) == (
        "failed",
        "band.stl: CuraEngine is not installed (apt-get install cura-engine cura)",
    )


def test_without_definitions_the_flow_saves_and_the_task_says_what_to_install(
    api: ApiClient, tenant: Tenant, settings: Any, tmp_path: Path
) -> None:
    # given no printer definitions at all
    settings.FABFLOW_CURA_DEFINITIONS = str(tmp_path)
    # when a flow naming a profile runs
    order = sliced(api, tenant, profile="ultimaker_s5")
    # then the flow was valid, and the task fails with the install hint
    task = run(order, "slice")
    assert (task.state, task.reason) == (
        "failed",
        "band.stl: Cura printer definitions are not installed (apt-get install cura-engine cura)",
    )


def test_an_unknown_profile_is_a_flow_error_listing_the_installed(api: ApiClient) -> None:
    response = api.post(
        "/api/v1/flows/validate", {"definition": definition(profile="creality_ender_3")}
    )
    assert response.status_code == 422, response.content
    [error] = response.json()["errors"]
    assert error["loc"] == ["body", "definition", 0, "taskDefinitions", 0, "payload", "profile"]
    prefix = "unknown printer profile 'creality_ender_3' (did you mean creality_ender3"
    assert error["msg"].startswith(prefix)
    installed = error["msg"].split("; installed: ", 1)[1].split(", ")
    assert installed == cura.profiles() and "ultimaker_s5" in installed
    assert "creality_base" not in installed and "fdmprinter" not in installed


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"layer_heigth": 0.2}, "unknown setting 'layer_heigth' for creality_ender3"),
        ({"layer_height": "thin"}, "setting 'layer_height' must be a number"),
        ({"wall_line_count": 2.5}, "setting 'wall_line_count' must be an integer"),
        ({"support_enable": "yes"}, "setting 'support_enable' must be true or false"),
        ({"infill_pattern": "waves"}, "setting 'infill_pattern' must be one of grid, lines"),
    ],
)
def test_a_bad_setting_is_a_flow_error_naming_it(
    api: ApiClient, overrides: dict[str, Any], message: str
) -> None:
    response = api.post("/api/v1/flows/validate", {"definition": definition(settings=overrides)})
    assert response.status_code == 422, response.content
    [error] = response.json()["errors"]
    assert error["loc"][-1] == "settings"
    assert error["msg"].startswith(message)


def test_the_profiles_endpoint_lists_profiles_and_materials(api: ApiClient) -> None:
    response = api.get("/api/v1/production/profiles")
    assert response.status_code == 200
    body = response.json()
    assert body["profiles"] == cura.profiles()
    assert {"creality_ender3", "ultimaker_s5"} <= set(body["profiles"])
    assert body["defaultProfile"] == "creality_ender3" and body["defaultMaterial"] == "PLA"
    assert body["materials"] == {"PLA": 1.24, "PETG": 1.27, "ABS": 1.04, "TPU": 1.21, "Nylon": 1.14}
    assert body["definitionsInstalled"] is True


@pytest.mark.production_programs
def test_the_figures_show_in_the_api_the_parts_table_its_csv_and_the_part_page(
    api: ApiClient, tenant: Tenant, member: Any, staff: Client
) -> None:
    # given a sliced part
    order = sliced(api, tenant)
    band = Part.objects.get(order=order, name="band")
    seconds, grams = band.manufacturing_data["printTimeS"], band.manufacturing_data["filamentG"]
    minutes = (seconds + 30) // 60
    shown = f"{minutes // 60}:{minutes % 60:02d}"
    # then the API's part has them
    parts = api.get(f"/api/v1/orders/{order.id}").json()["products"][0]["parts"]
    figures = next(p for p in parts if p["name"] == "band")["manufacturingData"]
    assert figures["printTimeS"] == seconds and figures["filamentG"] == grams
    # and the parts table shows them once the optional columns are chosen
    columns = ["part", "product", "order", "created", "print_time", "filament_g"]
    save_hidden_columns(user=member, table="parts", hidden=[], shown=columns)
    page = staff.get("/parts").content.decode()
    row = page.split(f'data-id="{band.id}"', 1)[1].split("</tr>", 1)[0]
    assert f'data-column="print_time">{shown}<' in row
    assert f'data-column="filament_g">{grams}<' in row
    # and the CSV export of the table has the same columns
    response = staff.post("/export/parts.csv", {"ids": [str(band.id)]})
    [record] = csv.DictReader(io.StringIO(response.content.decode()))
    assert (record["Print time"], record["Filament (g)"]) == (shown, str(grams))
    # and the part page names print time, filament and profile
    page = staff.get(f"/parts/{band.id}").content.decode()
    assert re.search(rf"<dt>Print time</dt><dd>{shown} h</dd>", page)
    assert f"{grams} g" in page and "creality_ender3" in page


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"solid empty\nendsolid empty\n", "band.stl: not an STL file with triangles"),
        (
            bytes(trimesh.creation.box(extents=(300, 20, 10)).export(file_type="stl")),
            "band.stl: the model (300 x 20 x 10 mm) does not fit the build volume of "
            "creality_ender3 (235 x 235 x 250 mm)",
        ),
    ],
    ids=["no-triangles", "too-large"],
)
@pytest.mark.production_programs
def test_a_file_the_printer_cannot_print_fails_and_stores_nothing(
    api: ApiClient, tenant: Tenant, content: bytes, reason: str
) -> None:
    # given a good STL on the product and a bad one on its part
    bad = {"name": "band.stl", "contentBase64": base64.b64encode(content).decode()}
    order = start(api, tenant, definition(), products([bad], (inline("a-ring.stl"),)))
    # then the task failed naming the file, and not even the good file's G-code was stored
    task = run(order, "slice")
    assert (task.state, task.reason) == ("failed", reason)
    assert not Asset.objects.filter(order=order, name__endswith=".gcode").exists()


@pytest.mark.parametrize(
    ("limit", "value", "reason"),
    [
        ("FABFLOW_RENDER_TIMEOUT_S", 0.01, "band.stl: slicing exceeded 0.01 s"),
        ("FABFLOW_RENDER_MEMORY_MB", 30, "band.stl: slicing exceeded the 30 MB memory limit"),
    ],
    ids=["time", "memory"],
)
@pytest.mark.production_programs
def test_the_engine_runs_under_the_rendering_limits(
    api: ApiClient, tenant: Tenant, settings: Any, limit: str, value: float, reason: str
) -> None:
    # given a limit the engine cannot keep / when the ring is sliced
    setattr(settings, limit, value)
    order = sliced(api, tenant)
    # then the task fails with the limit's reason and nothing is stored
    task = run(order, "slice")
    assert (task.state, task.reason) == ("failed", reason)
    assert not Asset.objects.filter(order=order, name="band.gcode").exists()


@pytest.mark.production_programs
def test_a_gcode_over_the_output_limit_fails(api: ApiClient, tenant: Tenant, settings: Any) -> None:
    # given a 1 MB output limit and a cylinder 200 mm tall (about 14 MB of G-code)
    settings.FABFLOW_RENDER_MAX_OUTPUT_MB = 1
    tall = bytes(trimesh.creation.cylinder(radius=30, height=200).export(file_type="stl"))
    asset = {"name": "band.stl", "contentBase64": base64.b64encode(tall).decode()}
    order = start(api, tenant, definition(), products([asset]))
    task = run(order, "slice")
    assert (task.state, task.reason) == ("failed", "band.stl: output larger than 1 MB")
