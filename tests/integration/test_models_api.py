"""The models API: create, list, read, new versions, refusals (docs/production.md, Models)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from fabflow.production import sandbox, scad
from fabflow.production.models import ModelVersion, ParametricModel
from tests.factories import ApiClient, Tenant

RING = """\
// Inner diameter
size = 17; // [10:0.5:25]
width = 4; // [2:8]
material = "silver"; // [silver, gold]
/* [Engraving] */
label = "J+A"; // 12
/* [Hidden] */
$fn = 96;
thickness = 1.8;
module ring() {
  difference() {
    cylinder(r = size / 2 + thickness, h = width);
    translate([0, 0, -1]) cylinder(r = size / 2, h = width + 2);
  }
}
ring();
"""
RING_PARAMETERS = [
    {
        "name": "size",
        "type": "number",
        "default": 17,
        "min": 10,
        "max": 25,
        "step": 0.5,
        "description": "Inner diameter",
    },
    {"name": "width", "type": "number", "default": 4, "min": 2, "max": 8},
    {"name": "material", "type": "string", "default": "silver", "choices": ["silver", "gold"]},
    {"name": "label", "type": "string", "default": "J+A", "maxLength": 12, "group": "Engraving"},
]


def put(api: ApiClient, path: str, body: Any) -> Any:
    return api.client.put(
        path, data=json.dumps(body), content_type="application/json", headers=api.headers
    )


def create(api: ApiClient, **body: Any) -> Any:
    return api.post("/api/v1/models", {"name": "ring", "kind": "openscad", "source": RING, **body})


@pytest.mark.production_programs
def test_creating_an_openscad_model_answers_its_parameters(api: ApiClient, tenant: Tenant) -> None:
    # when a model is uploaded with the space's key
    response = create(api)
    # then 201 with the parameters read from its customizer annotations
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["parameters"] == RING_PARAMETERS
    assert body["warnings"] == []
    assert (body["spaceKey"], body["name"], body["kind"], body["version"]) == (
        tenant.space.key,
        "ring",
        "openscad",
        1,
    )
    assert body["source"] == RING and body["generator"] == ""
    # and the model is stored with its first version
    model = ParametricModel.objects.get(pk=body["id"])
    assert model.organization == tenant.org and model.space == tenant.space
    assert list(model.versions.values_list("number", "parameters")) == [(1, RING_PARAMETERS)]


@pytest.mark.production_programs
def test_the_syntax_check_runs_openscad_in_the_sandbox(
    api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a syntax check that may not run longer than a blink (the sandbox's time limit)
    started = sandbox.runs["openscad"]
    monkeypatch.setattr(scad, "SYNTAX_CHECK_TIMEOUT_S", 0.001)
    # when a model is uploaded
    response = create(api)
    # then openscad ran in the sandbox, was stopped at the limit, and the model was kept unchecked
    assert sandbox.runs["openscad"] == started + 1
    assert response.status_code == 201, response.content
    [warning] = response.json()["warnings"]
    assert "exceeded" in warning and warning.endswith("syntax not checked")


@pytest.mark.production_programs
def test_a_syntax_error_is_a_422_naming_the_line(api: ApiClient) -> None:
    # given a source whose line 3 does not parse
    source = "size = 17;\nwidth = 4;\ncylinder(r = size h = width);\n"
    # when uploaded
    response = create(api, source=source)
    # then 422 problem+json with the line in the detail and in the error naming `source`
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["detail"].startswith("Syntax error at line 3: Parser error: syntax error")
    assert problem["errors"] == [
        {
            "loc": ["body", "source"],
            "msg": "line 3: Parser error: syntax error in file model.scad, line 3",
            "line": 3,
        }
    ]
    assert not ParametricModel.objects.exists()


@pytest.mark.parametrize(
    ("line", "statement", "shown"),
    [
        (2, "include <MCAD/units.scad>", "include <MCAD/units.scad>"),
        (2, "use <../../etc/lib.scad>", "use <../../etc/lib.scad>"),
        (2, 'import("/etc/passwd");', 'import("/etc/passwd")'),
        (2, 'surface(file = "heights.dat");', 'surface("heights.dat")'),
    ],
)
def test_an_include_use_or_import_is_refused_at_its_line(
    api: ApiClient, line: int, statement: str, shown: str
) -> None:
    response = create(api, source=f"size = 17;\n{statement}\ncube(size);\n")
    assert response.status_code == 422
    problem = response.json()
    assert problem["detail"] == (
        f"Line {line}: {shown} reads another file; a model is a single file, so include, use "
        "and import are refused."
    )
    assert problem["errors"] == [
        {"loc": ["body", "source"], "msg": f"line {line}: {shown} is not allowed", "line": line}
    ]


def test_without_openscad_the_model_is_saved_with_a_warning(
    api: ApiClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no openscad on it
    response = create(api, source="size = 17;\ncube(size)\n")  # not checked: no openscad
    assert response.status_code == 201
    assert response.json()["warnings"] == ["openscad is not installed: syntax not checked"]


@pytest.mark.production_programs
def test_warnings_name_what_is_not_a_parameter(api: ApiClient) -> None:
    response = create(api, source="offset = [1, 2];\nsize = 30; // [10:25]\ncube(size);\n")
    assert response.status_code == 201
    assert response.json()["warnings"] == [
        "line 1: offset is a vector; only numbers, strings and booleans are parameters, so it "
        "keeps its value",
        "line 2: size: the default 30 is outside [10:25]; the annotation is ignored",
    ]


def test_the_name_is_unique_per_space(api: ApiClient) -> None:
    assert create(api).status_code == 201
    response = create(api)
    assert response.status_code == 409
    assert response.json()["errors"] == [{"loc": ["body", "name"], "msg": "already used"}]


@pytest.mark.parametrize(
    ("body", "loc", "msg"),
    [
        ({"source": ""}, ["body", "source"], "An OpenSCAD model needs its source."),
        ({"source": None}, ["body", "source"], "An OpenSCAD model needs its source."),
        ({"generator": "ring"}, ["body", "generator"], "only for python models"),
        ({"kind": "python", "generator": "nope", "source": None}, ["body", "generator"], "not"),
        ({"kind": "python", "generator": "ring"}, ["body", "source"], "only for openscad models"),
        ({"kind": "blender"}, ["body", "kind"], "Input should be 'openscad' or 'python'"),
        ({"name": ""}, ["body", "name"], "String should have at least 1 character"),
        ({"colour": "red"}, ["body", "colour"], "Extra inputs are not permitted"),
    ],
)
def test_bad_bodies_name_the_field(
    api: ApiClient, body: dict[str, Any], loc: list[str], msg: str
) -> None:
    response = create(api, **body)
    assert response.status_code == 422, response.content
    errors = response.json()["errors"]
    assert errors[0]["loc"] == loc
    assert errors[0]["msg"].startswith(msg) or msg in errors[0]["msg"]


def test_a_python_model_reads_its_parameters_from_the_plugin(api: ApiClient) -> None:
    # given the example ring plugin installed under fabflow.models as `ring`
    body = {"name": "ring-py", "kind": "python", "generator": "ring"}
    # when a python model names it
    response = api.post("/api/v1/models", body)
    # then its parameters come from the plugin's Pydantic model
    assert response.status_code == 201, response.content
    found = response.json()
    assert (found["source"], found["generator"]) == ("", "ring")
    assert found["parameters"] == [
        {
            "name": "size",
            "type": "number",
            "default": 17.0,
            "min": 10,
            "max": 25,
            "description": "Inner diameter",
        },
        {
            "name": "width",
            "type": "number",
            "default": 4.0,
            "min": 2,
            "max": 10,
            "description": "Width of the band",
        },
        {
            "name": "engravingDepth",
            "type": "number",
            "default": 0.3,
            "min": 0,
            "max": 1,
            "description": "Depth of the groove around the band (0: none)",
        },
    ]


def test_put_saves_a_new_version_and_get_lists_the_versions(api: ApiClient, tenant: Tenant) -> None:
    model_id = create(api).json()["id"]
    # when a new source is saved
    response = put(api, f"/api/v1/models/{model_id}", {"source": "size = 20; // [15:30]\n"})
    # then it is version 2 with its own parameters
    assert response.status_code == 200, response.content
    assert response.json()["version"] == 2
    assert response.json()["parameters"] == [
        {"name": "size", "type": "number", "default": 20, "min": 15, "max": 30}
    ]
    # and the model shows version 2 and lists both, newest first
    found = api.get(f"/api/v1/models/{model_id}").json()
    assert found["version"] == 2 and found["source"] == "size = 20; // [15:30]\n"
    actor = f"key:{tenant.key.prefix}"
    assert [(v["number"], v["createdBy"]) for v in found["versions"]] == [(2, actor), (1, actor)]
    # and version 1 is unchanged
    assert ModelVersion.objects.get(model_id=model_id, number=1).source == RING


def test_a_refused_new_version_keeps_the_current_one(api: ApiClient) -> None:
    model_id = create(api).json()["id"]
    response = put(api, f"/api/v1/models/{model_id}", {"source": "use <x.scad>\n"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["line"] == 1
    assert api.get(f"/api/v1/models/{model_id}").json()["version"] == 1


def test_the_list_holds_the_spaces_models_with_their_current_version(
    api: ApiClient, tenant: Tenant
) -> None:
    model_id = create(api).json()["id"]
    put(api, f"/api/v1/models/{model_id}", {"source": "a = 1;\n"})
    create(api, name="bangle")
    response = api.get("/api/v1/models", spaceKey=tenant.space.key)
    assert response.status_code == 200
    items = response.json()["items"]
    assert [(m["name"], m["version"]) for m in items] == [("bangle", 1), ("ring", 2)]
    assert items[1]["parameters"] == [{"name": "a", "type": "number", "default": 1}]


def test_another_tenant_sees_none_of_them(
    api: ApiClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    model_id = create(api).json()["id"]
    other = ApiClient(other_tenant.secret)
    assert other.get("/api/v1/models").json()["items"] == []
    assert other.get(f"/api/v1/models/{model_id}").status_code == 404
    assert put(other, f"/api/v1/models/{model_id}", {"source": "a = 1;"}).status_code == 404
    preview = other.post(f"/api/v1/models/{model_id}/preview", {"configuration": {}})
    assert preview.status_code == 404
    # and a key cannot name another space
    response = other.post(
        "/api/v1/models",
        {"spaceKey": tenant.space.key, "name": "x", "kind": "openscad", "source": "a = 1;"},
    )
    assert response.status_code == 403


def test_a_member_works_on_the_models_of_their_organization(
    staff: Client, tenant: Tenant, api: ApiClient
) -> None:
    # given a logged-in member (session auth, as the web app calls the API)
    body = {"spaceKey": tenant.space.key, "name": "ring", "kind": "openscad", "source": RING}
    response = staff.post("/api/v1/models", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.content
    # and a space they do not have is an error naming spaceKey
    body["spaceKey"] = "elsewhere"
    response = staff.post("/api/v1/models", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 422
    assert response.json()["errors"] == [{"loc": ["body", "spaceKey"], "msg": "unknown space"}]
    # and so is listing it
    response = staff.get("/api/v1/models", {"spaceKey": "elsewhere"})
    assert response.status_code == 422
    assert response.json()["errors"] == [{"loc": ["query", "spaceKey"], "msg": "unknown space"}]
    assert len(staff.get("/api/v1/models", {"spaceKey": tenant.space.key}).json()["items"]) == 1


def test_without_credentials_nothing_is_shown() -> None:
    assert Client().get("/api/v1/models").status_code == 401


def test_the_models_are_in_the_openapi_document(db: None) -> None:
    document = Client().get("/api/openapi.json").json()
    paths = document["paths"]
    assert set(paths["/api/v1/models"]) == {"get", "post"}
    assert set(paths["/api/v1/models/{model_id}"]) == {"get", "put"}
    preview = paths["/api/v1/models/{model_id}/preview"]["post"]
    assert "image/png" in preview["responses"]["200"]["content"]
    schemas = document["components"]["schemas"]
    assert {"ModelIn", "ModelOut", "ModelDetailOut", "ParameterOut", "PreviewIn"} <= set(schemas)
    assert schemas["ParameterOut"]["properties"]["type"]["enum"] == ["number", "string", "boolean"]


@pytest.mark.production_programs
def test_the_documented_example_has_the_documented_parameters(api: ApiClient) -> None:
    # given the OpenSCAD example of docs/production.md and the parameters it documents
    text = (Path(__file__).parents[2] / "docs" / "production.md").read_text()
    start = text.index("```openscad", text.index("For example, this model:")) + len("```openscad")
    source = text[start : text.index("```", start)].lstrip("\n")
    start = text.index("```json", text.index("has these parameters:")) + len("```json")
    documented = json.loads(text[start : text.index("```", start)])
    # when uploaded
    response = create(api, source=source)
    # then the answer is what the documentation says
    assert response.status_code == 201, response.content
    assert response.json()["parameters"] == documented
    assert response.json()["warnings"] == []
