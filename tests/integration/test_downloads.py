"""Every download route: the name a browser saves cannot be chosen by a hostile order or asset
name, and an uploaded file never runs as a page of the app's origin."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils.http import content_disposition_header

import fabflow
from tests.factories import ApiClient, Tenant, order_body

HOSTILE = "invoice\"; filename*=UTF-8''invoice.html"
FILE_CSP = "default-src 'none'; sandbox"

# RFC 6266: `disposition-type *( ";" parameter )`, a parameter's value a token or a quoted string.
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_PARAMETER = re.compile(rf';\s*({_TOKEN})\s*=\s*({_TOKEN}|"(?:[^"\\]|\\.)*")\s*')


def saved_name(header: str) -> tuple[str, str]:
    """(disposition, file name) as a browser reads the header; any parameter that is not
    well-formed, repeated, or a second way of naming the file fails the test."""
    kind = re.match(rf"\s*({_TOKEN})\s*", header)
    assert kind is not None, header
    params: dict[str, str] = {}
    position = kind.end()
    while position < len(header):
        match = _PARAMETER.match(header, position)
        assert match is not None, f"malformed after {header[:position]!r}: {header!r}"
        name, value = match.group(1).lower(), match.group(2)
        assert name not in params, f"{name} repeated: {header!r}"
        params[name] = value
        position = match.end()
    names = [p for p in params if p in ("filename", "filename*")]
    assert len(names) == 1, f"{names} in {header!r}"
    value = params[names[0]]
    if names[0] == "filename*":
        charset, _language, encoded = value.split("'", 2)
        assert charset.lower() == "utf-8", header
        return kind.group(1).lower(), unquote(encoded)
    if value.startswith('"'):
        value = re.sub(r"\\(.)", r"\1", value[1:-1])
    return kind.group(1).lower(), value


def body(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.fixture
def hostile_order(api: ApiClient) -> dict[str, Any]:
    asset = {"name": HOSTILE, "contentBase64": "c29saWQ="}
    products = [{"name": HOSTILE, "assets": [asset], "parts": [{"name": HOSTILE}]}]
    response = api.post("/api/v1/orders", order_body("H-1", name=HOSTILE, products=products))
    assert response.status_code == 201, response.content
    return response.json()


def test_an_order_name_cannot_choose_the_order_zip_s_file_name(
    staff: Client, hostile_order: dict[str, Any]
) -> None:
    # given an order named to smuggle a second file name into the header
    # when its files are downloaded as one zip
    response = staff.get(f"/orders/{hostile_order['id']}/files.zip")
    # then Django's helper wrote one name, the order's name made inert, ending in our suffix
    assert response.status_code == 200
    expected = "invoice__ filename__UTF-8''invoice.html-files.zip"
    assert saved_name(response["Content-Disposition"]) == ("attachment", expected)
    assert response["Content-Disposition"] == content_disposition_header(True, expected)
    assert response["Content-Type"] == "application/zip"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == FILE_CSP


@pytest.mark.parametrize(
    ("table", "kind", "ids"),
    [
        ("orders", "csv", lambda o: [o["id"]]),
        ("products", "csv", lambda o: [o["products"][0]["id"]]),
        ("products", "zip", lambda o: [o["products"][0]["id"]]),
        ("parts", "csv", lambda o: [o["products"][0]["parts"][0]["id"]]),
        ("parts", "zip-csv", lambda o: [o["products"][0]["parts"][0]["id"]]),
        ("parts", "zip", lambda o: [o["products"][0]["parts"][0]["id"]]),
    ],
)
def test_exports_of_hostile_rows_are_named_after_their_table(
    staff: Client, hostile_order: dict[str, Any], table: str, kind: str, ids: Any
) -> None:
    # given rows with hostile names / when they are exported
    response = staff.post(f"/export/{table}.{kind}", {"ids": ids(hostile_order)})
    # then the download is named after the table, by Django's helper
    assert response.status_code == 200
    expected = f"{table}.{'csv' if kind == 'csv' else 'zip'}"
    assert saved_name(response["Content-Disposition"]) == ("attachment", expected)
    assert response["Content-Disposition"] == content_disposition_header(True, expected)
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == FILE_CSP


def _asset_routes(staff: Client, api: ApiClient, asset: dict[str, Any]) -> dict[str, Any]:
    """The asset's download as the web app, the API with a key, and its signed link serve it."""
    link = urlsplit(asset["downloadUrl"])
    return {
        "web": staff.get(f"/files/{asset['id']}"),
        "api key": api.get(f"/api/v1/assets/{asset['id']}/download"),
        "api session": staff.get(f"/api/v1/assets/{asset['id']}/download"),
        "signed link": Client().get(f"{link.path}?{link.query}"),
    }


def test_an_asset_name_cannot_add_a_second_file_name(
    staff: Client, api: ApiClient, hostile_order: dict[str, Any]
) -> None:
    # given an asset named to smuggle a second file name into the header
    asset = hostile_order["products"][0]["assets"][0]
    # when it is downloaded by every route / then the header holds its one cleaned name
    for route, response in _asset_routes(staff, api, asset).items():
        assert response.status_code == 200, route
        expected = "invoice_filenameUTF-8invoice.html"
        assert saved_name(response["Content-Disposition"]) == ("attachment", expected), route
        assert response["Content-Disposition"] == content_disposition_header(True, expected)
        assert body(response) == b"solid"


ACTIVE = [  # (name, uploaded type, content): all of them could run script in a browser
    ("page.html", "text/html", b"<script>alert(document.domain)</script>"),
    ("logo.svg", "image/svg+xml", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
    ("app.js", "text/javascript", b"alert(document.cookie)"),
    ("doc.xhtml", "application/xhtml+xml", b'<html xmlns="http://www.w3.org/1999/xhtml"/>'),
    ("note.txt", "text/plain; charset=utf-8", b"<script>alert(1)</script>"),
    ("photo.png", "text/html", b"<script>alert(1)</script>"),  # a harmless name, a bad type
]
IMAGES = [  # (name, uploaded type, served type)
    ("photo.png", "image/png", "image/png"),
    ("photo.jpg", "image/jpeg", "image/jpeg"),
    ("old.jpg", "IMAGE/JPG", "image/jpeg"),
    ("anim.gif", "image/gif", "image/gif"),
    ("photo.webp", "image/webp; q=1", "image/webp"),
]


def _upload(api: ApiClient, order_id: str, name: str, content_type: str, data: bytes) -> Any:
    upload = SimpleUploadedFile(name, data, content_type=content_type)
    response = api.client.post(
        f"/api/v1/orders/{order_id}/assets", {"file": upload}, headers=api.headers
    )
    assert response.status_code == 201, response.content
    return response.json()


@pytest.mark.parametrize(("name", "content_type", "data"), ACTIVE)
def test_an_uploaded_active_file_is_served_as_bytes_to_save(
    staff: Client, api: ApiClient, name: str, content_type: str, data: bytes
) -> None:
    # given an uploaded file whose type a browser would render or run
    order = api.post("/api/v1/orders", order_body("U-1")).json()
    asset = _upload(api, order["id"], name, content_type, data)
    # kept as uploaded (without parameters) for the API's readers
    assert asset["contentType"] == content_type.split(";")[0]
    # when any route serves it
    for route, response in _asset_routes(staff, api, asset).items():
        # then it is an attachment of a neutral type, never sniffed, sandboxed if rendered
        assert response.status_code == 200, route
        assert response["Content-Type"] == "application/octet-stream", route
        assert saved_name(response["Content-Disposition"]) == ("attachment", name), route
        assert response["X-Content-Type-Options"] == "nosniff", route
        assert response["Content-Security-Policy"] == FILE_CSP, route
        assert body(response) == data, route


@pytest.mark.parametrize(("name", "content_type", "served"), IMAGES)
def test_an_uploaded_safe_image_is_shown_inline(
    staff: Client, api: ApiClient, name: str, content_type: str, served: str
) -> None:
    # given an uploaded picture of a type browsers only ever draw
    order = api.post("/api/v1/orders", order_body("U-2")).json()
    asset = _upload(api, order["id"], name, content_type, b"\x89PNG\r\n\x1a\n")
    # when any route serves it / then inline, with its type, still not sniffed and sandboxed
    for route, response in _asset_routes(staff, api, asset).items():
        assert response.status_code == 200, route
        assert response["Content-Type"] == served, route
        assert saved_name(response["Content-Disposition"]) == ("inline", name), route
        assert response["X-Content-Type-Options"] == "nosniff", route
        assert response["Content-Security-Policy"] == FILE_CSP, route


def test_an_inline_order_asset_with_an_active_type_is_not_served_with_it(
    staff: Client, api: ApiClient, tenant: Tenant
) -> None:
    # given an asset sent inline in the order body with an active type
    asset = {"name": "x.svg", "contentType": "image/svg+xml", "contentBase64": "PHN2Zy8+"}
    products = [{"name": "Ring", "assets": [asset]}]
    order = api.post("/api/v1/orders", order_body("U-3", products=products)).json()
    # when any route serves it / then as bytes to save
    for route, response in _asset_routes(staff, api, order["products"][0]["assets"][0]).items():
        assert response["Content-Type"] == "application/octet-stream", route
        assert saved_name(response["Content-Disposition"]) == ("attachment", "x.svg"), route


def test_every_content_disposition_is_written_by_the_download_helpers() -> None:
    # given the source / then only exports/downloads.py names the header or builds a file
    # response, so every download goes through its rules
    source = Path(fabflow.__file__).parent
    pattern = re.compile(
        r"Content-Disposition|content_disposition_header|FileResponse\(|as_attachment"
    )
    found = {
        str(path.relative_to(source))
        for path in source.rglob("*.py")
        if pattern.search(path.read_text(encoding="utf-8"))
    }
    assert found == {"exports/downloads.py"}
