"""`generate-production-files` end to end through the engine with real OpenSCAD: files,
previews, manufacturing data, the render cache, and readable failures."""

from __future__ import annotations

import hashlib
import io
import json
import threading
import time
import zipfile
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django.utils import timezone
from PIL import Image

from fabflow.flows.engine import store
from fabflow.flows.engine.runner import advance
from fabflow.flows.models import FlowRun
from fabflow.flows.services import create_flow
from fabflow.orders.models import Asset, Order, Part, Product
from fabflow.production import render, sandbox
from fabflow.production.models import ModelVersion
from fabflow.production.services import create_model
from tests.factories import ApiClient, Tenant, order_body
from tests.integration.test_engine import run, run_engine

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

RING = """/* [Ring] */
size = 17; // [10:0.5:25]
width = 4; // [2:0.5:10]
engraving = "J+A"; // 12

difference() {
  cylinder(h = width, r = size / 2 + 1.8);
  translate([0, 0, -1]) cylinder(h = width + 2, r = size / 2);
}
"""
# An open surface: one triangle is not a solid.
OPEN = "polyhedron(points = [[0, 0, 0], [10, 0, 0], [0, 10, 0], [0, 0, 10]], faces = [[0, 1, 2]]);"
LOOP = "x = [for (i = [0:1:99999]) for (j = [0:1:99999]) for (k = [0:1:99999]) if (i < 0) i];\n"


def generate(**payload: Any) -> dict[str, Any]:
    return {
        "key": "generate",
        "handlerKey": "generate-production-files",
        "payload": {"model": "ring", **payload},
    }


def start(api: ApiClient, tenant: Tenant, task: dict[str, Any], **body: Any) -> Order:
    # One flow per task definition
    name = "render-" + hashlib.sha256(json.dumps(task, sort_keys=True).encode()).hexdigest()[:8]
    if not tenant.space.flows.filter(name=name).exists():
        definition = [{"key": "s", "name": "Render", "taskDefinitions": [task]}]
        create_flow(space=tenant.space, name=name, definition=definition)
    response = api.post("/api/v1/orders", order_body(flowKey=name, **body))
    assert response.status_code == 201, response.content
    order = Order.objects.get(pk=response.json()["id"])
    run_engine(order)
    return order


def one_ring(size: Any = 18, name: str = "Ring", tpo: str = "WEB-1") -> dict[str, Any]:
    product = {"name": name, "configuration": {"size": size}, "units": 1, "value": "10.00"}
    return {"tpo": tpo, "products": [{**product, "parts": [{"name": "band", "data": {}}]}]}


@pytest.fixture
def ring(tenant: Tenant) -> None:
    create_model(space=tenant.space, name="ring", kind="openscad", source=RING)


@pytest.mark.production_programs
def test_each_product_gets_its_file_preview_and_checks(api: ApiClient, tenant: Tenant, ring: None):
    # when an order with two rings runs the handler
    order = start(api, tenant, generate(resolution=48))

    # then each product has its STL and PNG, and its mesh checks as manufacturing data
    task = run(order, "generate")
    assert task.state == "succeeded", task.result
    for product in Product.objects.filter(order=order).order_by("name"):
        names = sorted(product.assets.filter(part=None).values_list("name", flat=True))
        assert names == [f"{product.name}.png", f"{product.name}.stl"]
        size = product.configuration["size"]
        data = product.manufacturing_data
        assert data["watertight"] is True
        assert data["bboxMm"] == [pytest.approx(size + 3.6, abs=0.01)] * 2 + [4.0]
        assert data["triangles"] > 100
        assert data["volumeMm3"] == pytest.approx(
            3.14159 * ((size / 2 + 1.8) ** 2 - (size / 2) ** 2) * 4, rel=0.01
        )
        png = product.assets.get(name=f"{product.name}.png")
        assert png.content_type == "image/png"
        with png.file.open("rb") as handle:
            assert Image.open(io.BytesIO(handle.read())).size == (512, 512)
    targets = task.result["targets"]
    assert [t["name"] for t in targets] == ["Ring 0", "Ring 1"]
    assert [t["cacheHit"] for t in targets] == [False, False]


@pytest.mark.production_programs
def test_an_identical_configuration_is_never_rendered_twice(
    api: ApiClient, tenant: Tenant, ring: None
):
    first = start(api, tenant, generate(), **one_ring(size=18, tpo="A"))
    started = sandbox.runs["openscad"]

    # when a second order has the same configuration (a string the shop sent this time)
    second = start(api, tenant, generate(), **one_ring(size="18", tpo="B"))

    # then it was served from the cache: openscad did not run again, same bytes
    assert run(first, "generate").result["targets"][0]["cacheHit"] is False
    assert run(second, "generate").result["targets"][0]["cacheHit"] is True
    assert sandbox.runs["openscad"] == started
    stl = [Asset.objects.get(order=o, name="Ring.stl").sha256 for o in (first, second)]
    assert stl[0] == stl[1]
    keys = default_storage.listdir(render.CACHE_PREFIX)[0]
    assert len(keys) == 1


@pytest.mark.production_programs
def test_formats_and_no_preview(api: ApiClient, tenant: Tenant, ring: None):
    order = start(api, tenant, generate(fileFormat="3mf", preview=False), **one_ring())

    assert run(order, "generate").state == "succeeded"
    [asset] = Asset.objects.filter(order=order)
    assert (asset.name, asset.content_type) == ("Ring.3mf", "model/3mf")
    assert run(order, "generate").result["targets"][0]["preview"] is None


@pytest.mark.production_programs
def test_parts_render_with_their_own_or_their_products_configuration(
    api: ApiClient, tenant: Tenant, ring: None
):
    body = one_ring(size=18)
    body["products"][0]["parts"] = [
        {"name": "big", "data": {"configuration": {"size": 24}}},
        {"name": "plain", "data": {}},
    ]

    order = start(api, tenant, generate(target="part", filter="^(big|plain)$"), **body)

    assert run(order, "generate").state == "succeeded"
    sizes = {p.name: p.manufacturing_data["bboxMm"][0] for p in Part.objects.filter(order=order)}
    assert sizes == {"big": pytest.approx(27.6), "plain": pytest.approx(21.6)}
    assert sorted(Asset.objects.filter(order=order).values_list("name", flat=True)) == [
        "big.png",
        "big.stl",
        "plain.png",
        "plain.stl",
    ]


@pytest.mark.production_programs
def test_running_again_replaces_the_files(api: ApiClient, tenant: Tenant):
    # given a task that stored its files and failed (the mesh is open)
    create_model(space=tenant.space, name="ring", kind="openscad", source=OPEN)
    order = start(api, tenant, generate(), **one_ring())
    first = set(Asset.objects.filter(order=order).values_list("id", flat=True))

    # when staff retry it
    response = api.post(f"/api/v1/tasks/{run(order, 'generate').id}/retry")
    assert response.status_code == 202, response.content
    run_engine(order)

    # then the product has one STL and one PNG, the new ones
    assert run(order, "generate").attempt == 2
    names = sorted(Asset.objects.filter(order=order).values_list("name", flat=True))
    assert names == ["Ring.png", "Ring.stl"]
    assert not first & set(Asset.objects.filter(order=order).values_list("id", flat=True))


@pytest.mark.parametrize(
    ("payload", "body", "reason"),
    [
        (
            {"model": "bracelet"},
            {},
            "no model 'bracelet' in space {space}",
        ),
        (
            {},
            one_ring(size=40),
            "product 'Ring': parameter 'size': must be at most 25",
        ),
        (
            {},
            one_ring(size="large"),
            "product 'Ring': parameter 'size': must be a number",
        ),
    ],
)
def test_bad_input_fails_the_task_with_a_reason(
    api: ApiClient, tenant: Tenant, ring: None, payload: Any, body: Any, reason: str
):
    order = start(api, tenant, generate(**payload), **body)

    task = run(order, "generate")
    assert task.state == "failed"
    assert reason.format(space=tenant.space.key) in task.reason
    assert not Asset.objects.filter(order=order).exists()


@pytest.mark.production_programs
def test_a_model_reading_a_file_at_render_time_fails(api: ApiClient, tenant: Tenant):
    # given a model that imports a file (refused at upload, so saved here past that check)
    create_model(space=tenant.space, name="ring", kind="openscad", source=RING)
    source = 'import(str("/etc/", "hostname"));\n' + RING
    ModelVersion.objects.filter(model__space=tenant.space).update(source=source)

    order = start(api, tenant, generate(), **one_ring())

    assert run(order, "generate").reason == (
        "product 'Ring': the model reads /etc/hostname, which is not one of its own files"
    )


@pytest.mark.production_programs
def test_a_string_parameter_is_passed_as_a_string(api: ApiClient, tenant: Tenant, ring: None):
    body = one_ring()
    body["products"][0]["configuration"]["engraving"] = '"); cube(9);'

    order = start(api, tenant, generate(), **body)

    assert run(order, "generate").state == "succeeded", run(order, "generate").reason
    assert Product.objects.get(order=order).manufacturing_data["bboxMm"][2] == 4.0


def test_a_python_generator_renders_in_its_own_process(api: ApiClient, tenant: Tenant):
    create_model(space=tenant.space, name="ring", kind="python", generator="ring")
    started = sandbox.runs["python"]

    order = start(api, tenant, generate(fileFormat="obj"), **one_ring(size=20))

    assert run(order, "generate").state == "succeeded", run(order, "generate").reason
    assert sandbox.runs["python"] == started + 1
    product = Product.objects.get(order=order)
    assert product.manufacturing_data["watertight"] is True
    assert product.manufacturing_data["bboxMm"][0] == pytest.approx(23.6)
    assert sorted(product.assets.values_list("name", flat=True)) == ["Ring.obj", "Ring.png"]


@pytest.mark.production_programs
def test_a_mesh_that_is_not_watertight_fails_unless_allowed(api: ApiClient, tenant: Tenant):
    create_model(space=tenant.space, name="ring", kind="openscad", source=OPEN)

    refused = start(api, tenant, generate(), **one_ring(tpo="A"))
    allowed = start(api, tenant, generate(allowNonWatertight=True), **one_ring(tpo="B"))

    assert run(refused, "generate").reason == (
        "product 'Ring': the mesh is not watertight (allowNonWatertight lets it pass)"
    )
    assert run(allowed, "generate").state == "succeeded"
    product = Product.objects.get(order=allowed)
    assert product.manufacturing_data["watertight"] is False
    assert product.manufacturing_data["volumeMm3"] is None


@pytest.mark.production_programs
def test_a_model_that_loops_fails_and_the_worker_keeps_serving(
    api: ApiClient, tenant: Tenant, other_tenant: Tenant, settings: Any
):
    # given a looping model in one space and the ring in another
    settings.FABFLOW_RENDER_TIMEOUT_S = 6
    looping_model(tenant.space)
    create_model(space=other_tenant.space, name="ring", kind="openscad", source=RING)
    other_api = ApiClient(other_tenant.secret)
    for space in (tenant.space, other_tenant.space):
        definition = [{"key": "s", "name": "Render", "taskDefinitions": [generate()]}]
        create_flow(space=space, name="render", definition=definition)
    looping = _created(api, "LOOP")
    normal = _created(other_api, "OK")

    # when two engine threads run them side by side
    finished: list[str] = []

    def advance_order(order: Order) -> None:
        advance(str(FlowRun.objects.get(order=order).pk))
        finished.append(order.name)

    threads = [threading.Thread(target=advance_order, args=(o,)) for o in (looping, normal)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    # then the normal order was done first and succeeded; the loop failed with its reason
    assert finished == [normal.name, looping.name]
    assert run(normal, "generate").state == "succeeded"
    assert run(looping, "generate").reason == "product 'Ring': render exceeded 6 s"


def looping_model(space: Any) -> None:
    # Saved past the upload's syntax check, which would spend its own time limit on the loop.
    create_model(space=space, name="ring", kind="openscad", source=RING)
    ModelVersion.objects.filter(model__space=space).update(source=LOOP + RING)


def _created(api: ApiClient, tpo: str) -> Order:
    response = api.post("/api/v1/orders", order_body(flowKey="render", **one_ring(tpo=tpo)))
    assert response.status_code == 201, response.content
    return Order.objects.get(pk=response.json()["id"])


@pytest.mark.production_programs
def test_the_preview_is_the_products_thumbnail_everywhere(
    api: ApiClient, tenant: Tenant, ring: None, staff: Any
):
    order = start(api, tenant, generate(), **one_ring())
    product = Product.objects.get(order=order)
    png = Asset.objects.get(order=order, name="Ring.png")
    download = f"/files/{png.id}"

    # the API: thumbnailUrl downloads the PNG, manufacturingData holds the checks
    body = api.get(f"/api/v1/products/{product.id}").json()
    assert body["manufacturingData"] == product.manufacturing_data
    assert body["manufacturingData"]["watertight"] is True
    response = api.client.get(body["thumbnailUrl"])
    assert (response.status_code, response["Content-Type"]) == (200, "image/png")
    [listed] = api.get("/api/v1/products").json()["items"]
    assert listed["thumbnailUrl"].split("?")[0] == body["thumbnailUrl"].split("?")[0]
    assert api.get(f"/api/v1/orders/{order.id}").json()["products"][0]["thumbnailUrl"]

    # the web app: the products table, the order, product and part pages
    for page in ("/products", f"/orders/{order.id}", f"/products/{product.id}"):
        assert download in staff.get(page).content.decode(), page
    assert "watertight" in staff.get(f"/products/{product.id}").content.decode()

    # the products zip export carries the preview next to the STL
    exported = staff.post("/export/products.zip", {"ids": [str(product.id)]})
    with zipfile.ZipFile(io.BytesIO(b"".join(exported.streaming_content))) as archive:
        names = sorted(n.rsplit("/", 1)[-1] for n in archive.namelist())
    assert "Ring.png" in names and "Ring.stl" in names


@pytest.mark.production_programs
def test_a_long_render_keeps_its_flow_run_from_other_workers(
    api: ApiClient, tenant: Tenant, settings: Any
):
    # given leases of 2 s and a model that renders until its limit of 4 s
    settings.FABFLOW_LEASE_SECONDS = 2
    settings.FABFLOW_RENDER_TIMEOUT_S = 4
    looping_model(tenant.space)
    definition = [{"key": "s", "name": "Render", "taskDefinitions": [generate()]}]
    create_flow(space=tenant.space, name="render", definition=definition)
    order = _created(api, "LONG")
    flow_run = FlowRun.objects.get(order=order)
    taken: list[Any] = []

    def other_worker() -> None:
        time.sleep(3)  # past the lease the render started with
        now = timezone.now()
        taken.append(store.lease_one(flow_run.pk, "other:1:1", now, now + timedelta(seconds=60)))
        connection.close()

    # when the render runs and another worker tries to take the flow run meanwhile
    thief = threading.Thread(target=other_worker)
    thief.start()
    advance(str(flow_run.pk))
    thief.join()

    # then it could not: the lease was renewed during the call, and the outcome was recorded
    assert taken == [None]
    assert run(order, "generate").reason == "product 'Ring': render exceeded 4 s"
