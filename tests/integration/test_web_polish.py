"""Styled error pages, the API's 405 problem, the favicon, flows' last edited, export labels."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.exceptions import BadRequest
from django.test import Client, RequestFactory
from django.views.defaults import bad_request, server_error

from fabflow.flows.models import Flow
from fabflow.flows.services import create_flow, save_version
from tests.factories import ApiClient, Tenant

STYLED = ('<link rel="stylesheet" href="/static/fabflow/app.css">', 'class="error-status"')
MANUAL = {"key": "t", "handlerKey": "manual-task", "payload": {"title": "Check"}}
DEFINITION = [{"key": "s", "name": "S", "taskDefinitions": [MANUAL]}]


def _styled(html: str, status: int, heading: str) -> None:
    assert all(part in html for part in STYLED)
    assert f'<p class="error-status">{status}</p>' in html
    assert heading in html


def test_a_missing_page_is_the_styled_404_with_the_sidebar(staff: Client) -> None:
    response = staff.get("/no-such-page")
    assert response.status_code == 404
    html = response.content.decode()
    _styled(html, 404, "Page not found")
    assert 'class="sidebar' in html


def test_a_missing_page_signed_out_is_the_styled_404(client: Client, db: None) -> None:
    response = client.get("/no-such-page")
    assert response.status_code == 404
    _styled(response.content.decode(), 404, "Page not found")


def test_an_admin_page_for_a_member_is_the_styled_403(staff: Client) -> None:
    response = staff.get("/users")
    assert response.status_code == 403
    _styled(response.content.decode(), 403, "Access denied")


def test_a_bad_host_is_the_styled_400(client: Client, db: None) -> None:
    response = client.get("/orders", HTTP_HOST="evil.example")
    assert response.status_code == 400
    _styled(response.content.decode(), 400, "Bad request")


def test_the_400_handler_renders_the_styled_page(db: None) -> None:
    response = bad_request(RequestFactory().get("/"), BadRequest("x"))
    assert response.status_code == 400
    _styled(response.content.decode(), 400, "Bad request")


def test_the_500_page_is_styled_without_a_request_context(db: None) -> None:
    # Django renders 500.html with no context at all (no user, no request)
    response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    html = response.content.decode()
    _styled(html, 500, "Something went wrong")
    assert 'class="sidebar' not in html


def test_a_method_an_api_path_lacks_is_a_405_problem(api: ApiClient) -> None:
    response = api.client.delete("/api/v1/orders", headers=api.headers)
    assert response.status_code == 405
    assert response["Content-Type"] == "application/problem+json"
    assert sorted(response["Allow"].split(", ")) == ["GET", "POST"]
    assert json.loads(response.content) == {
        "type": "about:blank",
        "title": "Method Not Allowed",
        "status": 405,
        "detail": "DELETE is not allowed here; allowed: " + response["Allow"] + ".",
    }


def test_the_favicon_is_linked_and_served(staff: Client) -> None:
    link = '<link rel="icon" href="/static/fabflow/favicon.svg" type="image/svg+xml">'
    assert link in staff.get("/orders").content.decode()
    response = staff.get("/favicon.ico")
    assert (response.status_code, response["Location"]) == (301, "/static/fabflow/favicon.svg")
    icon = staff.get("/static/fabflow/favicon.svg")
    assert (icon.status_code, icon["Content-Type"]) == (200, "image/svg+xml")


def test_a_new_version_updates_the_flows_last_edited(tenant: Tenant, staff: Client) -> None:
    # given a flow edited long ago
    flow = create_flow(space=tenant.space, name="old-flow", definition=DEFINITION)
    Flow.objects.filter(pk=flow.pk).update(updated_at=flow.updated_at - timedelta(days=30))
    before = Flow.objects.get(pk=flow.pk).updated_at
    # when a new version is saved
    save_version(flow=flow, definition=DEFINITION)
    # then the flow's last edited moves on, and the list shows it
    after = Flow.objects.get(pk=flow.pk).updated_at
    assert after - before > timedelta(days=29)
    assert f"<td>{after:%Y-%m-%d %H:%M}</td>" in staff.get("/flows").content.decode()


@pytest.mark.parametrize(
    ("path", "labels"),
    [
        ("/orders", ["Export selected orders (CSV)"]),
        (
            "/products",
            ["Export selected products (CSV)", "Export selected products with files (zip)"],
        ),
        (
            "/parts",
            [
                "Export selected parts (CSV)",
                "Export selected parts with files (zip)",
                "Export selected parts without files (zip)",
            ],
        ),
    ],
)
def test_export_buttons_say_what_they_export(staff: Client, path: str, labels: list[str]) -> None:
    html = staff.get(path).content.decode()
    assert [label for label in labels if f"data-needs-selection>{label}</button>" in html] == labels
    assert html.count("data-needs-selection>") == len(labels)
