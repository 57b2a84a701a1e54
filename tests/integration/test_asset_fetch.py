"""URL assets: fetched by the worker under the outbound policy, retried, or failed with a reason."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from django.core.management import call_command
from pytest_httpserver import HTTPServer

from fabflow.orders.models import Asset, OrderEvent
from tests.factories import ApiClient, order_body

# The worker closes its database connection between jobs, as in production: real commits.
pytestmark = pytest.mark.django_db(transaction=True)


def create_with_url(api: ApiClient, url: str) -> dict[str, Any]:
    body = order_body(products=[{"name": "Ring", "assets": [{"name": "ring.stl", "url": url}]}])
    response = api.post("/api/v1/orders", body)
    assert response.status_code == 201, response.content
    asset = response.json()["products"][0]["assets"][0]
    assert asset["state"] == "pending"
    assert asset["downloadUrl"] is None
    return asset


def run_worker() -> None:
    call_command("worker", batch=True, verbosity=0)


def test_url_asset_is_fetched_by_the_worker(
    api: ApiClient, httpserver: HTTPServer, settings: Any
) -> None:
    # given an allow-listed local server holding the file
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    content = b"solid ring\n" * 1000
    httpserver.expect_request("/ring.stl").respond_with_data(content)
    asset = create_with_url(api, httpserver.url_for("/ring.stl"))
    # when the worker runs
    run_worker()
    # then the file is stored with its size and checksum, and the timeline says so
    stored = Asset.objects.get(pk=asset["id"])
    assert stored.state == "ready"
    assert stored.size == len(content)
    assert stored.sha256 == hashlib.sha256(content).hexdigest()
    assert stored.file.read() == content
    assert OrderEvent.objects.filter(kind="asset.fetched").count() == 1
    downloaded = api.get(f"/api/v1/assets/{asset['id']}/download")
    assert b"".join(downloaded.streaming_content) == content


def test_loopback_url_is_refused_without_the_allow_list(
    api: ApiClient, httpserver: HTTPServer, settings: Any
) -> None:
    settings.OUTBOUND_ALLOWLIST = []
    httpserver.expect_request("/secret").respond_with_data(b"internal")
    asset = create_with_url(api, httpserver.url_for("/secret"))
    run_worker()
    stored = Asset.objects.get(pk=asset["id"])
    assert stored.state == "failed"
    assert stored.attempts == 1
    assert stored.error
    assert len(httpserver.log) == 0
    event = OrderEvent.objects.get(kind="asset.fetch_failed")
    assert event.data["assetId"] == asset["id"]


def test_redirects_are_not_followed(api: ApiClient, httpserver: HTTPServer, settings: Any) -> None:
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    httpserver.expect_request("/moved").respond_with_data(
        b"", status=302, headers={"Location": httpserver.url_for("/target")}
    )
    asset = create_with_url(api, httpserver.url_for("/moved"))
    run_worker()
    assert Asset.objects.get(pk=asset["id"]).state == "failed"
    assert [r.path for r, _ in httpserver.log] == ["/moved"]


@pytest.mark.parametrize("status", [500, 503, 429])
def test_transient_errors_schedule_a_retry(
    api: ApiClient, httpserver: HTTPServer, settings: Any, status: int
) -> None:
    from django_tasks_db.models import DBTaskResult

    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    httpserver.expect_request("/flaky").respond_with_data(b"busy", status=status)
    asset = create_with_url(api, httpserver.url_for("/flaky"))
    run_worker()
    stored = Asset.objects.get(pk=asset["id"])
    assert stored.state == "pending"
    assert stored.attempts == 1
    retry = DBTaskResult.objects.filter(status="READY").get()
    assert retry.args_kwargs["args"] == [asset["id"]]
    assert retry.run_after > stored.created_at


def test_last_attempt_fails_the_asset(
    api: ApiClient, httpserver: HTTPServer, settings: Any
) -> None:
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    settings.FABFLOW_FETCH_ATTEMPTS = 1
    httpserver.expect_request("/down").respond_with_data(b"", status=503)
    asset = create_with_url(api, httpserver.url_for("/down"))
    run_worker()
    stored = Asset.objects.get(pk=asset["id"])
    assert stored.state == "failed"
    assert "503" in stored.error


def test_oversized_download_fails_permanently(
    api: ApiClient, httpserver: HTTPServer, settings: Any
) -> None:
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    settings.FABFLOW_MAX_FETCH_BYTES = 100
    httpserver.expect_request("/big").respond_with_data(b"x" * 1000)
    asset = create_with_url(api, httpserver.url_for("/big"))
    run_worker()
    stored = Asset.objects.get(pk=asset["id"])
    assert stored.state == "failed"
    assert stored.attempts == 1
    assert not stored.file
