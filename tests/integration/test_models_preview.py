"""Previews of a model with a configuration: the API's PNG and the web page's form."""

from __future__ import annotations

import base64
import io
import re

import pytest
from django.test import Client
from PIL import Image

from fabflow.production import services
from fabflow.production.models import ParametricModel
from tests.factories import ApiClient, Tenant

RING = """\
size = 17; // [10:0.5:25]
width = 4; // [2:8]
difference() {
  cylinder(d = size + 3.6, h = width, $fn = 48);
  translate([0, 0, -1]) cylinder(d = size, h = width + 2, $fn = 48);
}
"""


def make(tenant: Tenant, source: str = RING) -> ParametricModel:
    saved = services.create_model(space=tenant.space, name="ring", kind="openscad", source=source)
    return saved.version.model


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(data)) as image:
        return image.size


@pytest.mark.production_programs
def test_the_api_answers_a_png_and_caches_it(api: ApiClient, tenant: Tenant) -> None:
    model = make(tenant)
    path = f"/api/v1/models/{model.id}/preview"
    # when a configuration is previewed
    first = api.post(path, {"configuration": {"size": "18", "unknown": 1}})
    # then a PNG comes back
    assert first.status_code == 200, first.content
    assert first["Content-Type"] == "image/png"
    width, height = png_size(first.content)
    assert width > 0 and height > 0
    # and the same configuration, however spelled, is the same picture from the cache
    again = api.post(path, {"configuration": {"size": 18.0}})
    assert again.status_code == 200 and again.content == first.content


def test_a_bad_value_is_a_422_naming_the_parameter(api: ApiClient, tenant: Tenant) -> None:
    model = make(tenant)
    response = api.post(f"/api/v1/models/{model.id}/preview", {"configuration": {"size": 30}})
    assert response.status_code == 422
    assert response.json()["detail"] == "parameter 'size': must be at most 25, not 30"
    assert response.json()["errors"] == [
        {"loc": ["body", "configuration", "size"], "msg": "must be at most 25, not 30"}
    ]


def test_a_number_beyond_a_floats_range_is_a_422_not_a_500(api: ApiClient, tenant: Tenant) -> None:
    model = make(tenant)
    body = {"configuration": {"size": 10**400}}
    response = api.post(f"/api/v1/models/{model.id}/preview", body)
    assert response.status_code == 422, response.content
    assert response.json()["errors"] == [
        {"loc": ["body", "configuration", "size"], "msg": "must be a finite number"}
    ]


def test_a_model_that_does_not_render_is_a_422_with_the_reason(
    api: ApiClient, tenant: Tenant
) -> None:
    model = make(tenant, source="size = 17;\necho(size);\n")  # no geometry at all
    response = api.post(f"/api/v1/models/{model.id}/preview", {"configuration": {}})
    assert response.status_code == 422, response.content
    assert response.json()["detail"].startswith("The model could not be rendered: ")
    assert response.json()["errors"][0]["loc"] == ["body", "configuration"]


def test_a_python_model_previews_too(api: ApiClient) -> None:
    created = api.post("/api/v1/models", {"name": "ring", "kind": "python", "generator": "ring"})
    path = f"/api/v1/models/{created.json()['id']}/preview"
    response = api.post(path, {"configuration": {"size": 20, "engravingDepth": 0.5}})
    assert response.status_code == 200, response.content
    png_size(response.content)


@pytest.mark.production_programs
def test_the_page_form_shows_the_picture(staff: Client, tenant: Tenant) -> None:
    model = make(tenant)
    response = staff.post(
        f"/models/{model.id}/preview", {"p:size": "19.5", "p:width": "3"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    found = re.search(r'<img [^>]*src="data:image/png;base64,([^"]+)"', response.content.decode())
    assert found is not None
    png_size(base64.b64decode(found.group(1)))


def test_the_page_form_names_a_bad_parameter(staff: Client, tenant: Tenant) -> None:
    model = make(tenant)
    response = staff.post(f"/models/{model.id}/preview", {"p:size": "17.3"})
    assert response.status_code == 200
    assert (
        "parameter &#x27;size&#x27;: must be 10 plus a multiple of 0.5, not 17.3"
        in response.content.decode()
    )
