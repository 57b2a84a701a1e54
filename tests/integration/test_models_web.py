"""The Models pages: list, upload, a model's parameters, versions and preview form."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from fabflow.accounts.services import create_user
from fabflow.production import services
from fabflow.production.models import ParametricModel
from tests.factories import Tenant

SOURCE = """\
// Inner diameter
size = 17; // [10:0.5:25]
material = "silver"; // [silver:Silver, gold:Gold]
label = "J+A"; // 12
bevel = true;
width = 4;
cylinder(d = size, h = width);
"""


def make_model(tenant: Tenant, name: str = "ring") -> ParametricModel:
    saved = services.create_model(space=tenant.space, name=name, kind="openscad", source=SOURCE)
    return saved.version.model


def test_the_sidebar_links_the_models_page(staff: Client, tenant: Tenant) -> None:
    page = staff.get("/orders").content.decode()
    assert '<a class="nav-link " href="/models">Models</a>' in page


def test_the_list_shows_the_organizations_models_only(
    staff: Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    mine = make_model(tenant)
    make_model(other_tenant, name="theirs")
    response = staff.get("/models")
    assert response.status_code == 200
    page = response.content.decode()
    assert f'<a href="/models/{mine.id}">ring</a>' in page
    assert "theirs" not in page


def test_uploading_a_model_goes_to_its_page(staff: Client, tenant: Tenant) -> None:
    form = {"space": tenant.space.key, "name": "ring", "kind": "openscad", "source": SOURCE}
    response = staff.post("/models", form)
    model = ParametricModel.objects.get(name="ring")
    assert response.status_code == 302 and response["Location"] == f"/models/{model.id}"
    assert model.organization == tenant.org and model.current_version == 1


@pytest.mark.production_programs
def test_a_syntax_error_is_shown_at_its_line_with_the_text_kept(
    staff: Client, tenant: Tenant
) -> None:
    source = "size = 17;\ncube(size\n"
    form = {"space": tenant.space.key, "name": "ring", "kind": "openscad", "source": source}
    response = staff.post("/models", form)
    assert response.status_code == 422
    page = response.content.decode()
    assert '<div class="invalid-feedback">Line 3: Syntax error at line 3:' in page
    assert "size = 17;\ncube(size\n</textarea>" in page
    assert not ParametricModel.objects.exists()


def test_an_import_is_refused_in_the_page(staff: Client, tenant: Tenant) -> None:
    form = {"space": tenant.space.key, "name": "ring", "kind": "openscad", "source": "use <a.scad>"}
    response = staff.post("/models", form)
    assert response.status_code == 422
    page = response.content.decode()
    assert "Line 1: use &lt;a.scad&gt; reads another file" in page
    assert "<code>1 | use &lt;a.scad&gt;</code>" in page


def test_a_python_model_from_the_page(staff: Client, tenant: Tenant) -> None:
    form = {"space": tenant.space.key, "name": "ring", "kind": "python", "generator": "ring"}
    response = staff.post("/models", {**form, "source": "ignored for python"})
    assert response.status_code == 302
    page = staff.get(response["Location"]).content.decode()
    assert "<code>engravingDepth</code>" in page
    assert "Read the parameters again" in page


def test_the_model_page_shows_parameters_versions_and_the_preview_form(
    staff: Client, tenant: Tenant
) -> None:
    model = make_model(tenant)
    services.save_version(model=model, source=SOURCE.replace("17;", "18;"), actor="user:x")
    response = staff.get(f"/models/{model.id}")
    assert response.status_code == 200
    page = response.content.decode()
    # the parameters table
    assert '<code>size</code><div class="small text-muted">Inner diameter</div>' in page
    assert "10 to 25 step 0.5" in page
    assert "silver (Silver), gold (Gold)" in page
    assert "up to 12 characters" in page
    # the versions, newest first
    assert re.findall(r"<li class=\"list-group-item small\">v(\d)", page) == ["2", "1"]
    # the preview form: a number box with the slider's range, a select, a text box, a checkbox
    assert 'type="number" id="p-size" name="p:size" value="18" min="10" max="25" step="0.5"' in page
    assert '<option value="silver" selected>Silver</option><option value="gold">Gold</option>' in (
        page
    )
    assert 'type="text" id="p-label" name="p:label" value="J+A" maxlength="12"' in page
    assert 'type="checkbox" id="p-bevel" name="p:bevel" checked' in page
    assert 'type="number" id="p-width" name="p:width" value="4" step="any"' in page
    assert f'hx-post="/models/{model.id}/preview"' in page


def test_saving_a_new_version_from_the_page(staff: Client, tenant: Tenant) -> None:
    model = make_model(tenant)
    response = staff.post(f"/models/{model.id}", {"source": "size = 20;\ncube(size);\n"})
    assert response.status_code == 302
    model.refresh_from_db()
    assert model.current_version == 2
    assert "Saved version 2." in staff.get(f"/models/{model.id}").content.decode()


@pytest.mark.production_programs
def test_a_bad_new_version_shows_the_line_and_keeps_the_text(staff: Client, tenant: Tenant) -> None:
    model = make_model(tenant)
    response = staff.post(f"/models/{model.id}", {"source": "a = 1;\nb = ;\n"})
    assert response.status_code == 422
    page = response.content.decode()
    assert 'id="source-error">Line 2: Syntax error at line 2:' in page
    assert '<pre class="mb-0 mt-1"><code>2 | b = ;</code></pre>' in page
    assert 'data-error-line="2">a = 1;\nb = ;\n</textarea>' in page
    model.refresh_from_db()
    assert model.current_version == 1


def test_another_organizations_model_is_not_found(staff: Client, other_tenant: Tenant) -> None:
    theirs = make_model(other_tenant)
    assert staff.get(f"/models/{theirs.id}").status_code == 404
    assert staff.post(f"/models/{theirs.id}/preview", {}).status_code == 404


def test_the_pages_are_for_members_only(db: None, tenant: Tenant) -> None:
    model = make_model(tenant)
    response = Client().get(f"/models/{model.id}")
    assert response.status_code == 302 and response["Location"].startswith("/login")
    outsider = create_user(organization=None, email="out@example.com", password="x-pass-1234")
    client = Client()
    client.force_login(outsider)
    assert client.get("/models").status_code == 403
