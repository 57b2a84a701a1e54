"""Exports under hostile names: zip entries stay relative, portable and unique; CSV cells that a
spreadsheet would run are neutralised in every sheet, and numbers stay numbers."""

from __future__ import annotations

import base64
import csv
import io
import zipfile
from typing import Any

import pytest
from django.test import Client

from tests.factories import ApiClient, order_body

# (asset name, its entry in a zip): each kind of name an extracting tool could misplace.
ZIP_NAMES = [
    ("C:\\Windows\\evil.html", "Windows/evil.html"),  # a drive and backslashes
    ("D:evil.bat", "evil.bat"),  # relative to a drive's current folder
    ("\\\\server\\share\\unc.stl", "server/share/unc.stl"),  # a UNC path
    ("..\\..\\boot.ini", "boot.ini"),
    ("../../etc/passwd", "etc/passwd"),
    ("/abs/path.txt", "abs/path.txt"),
    ("a/./b/../c.stl", "a/b/c.stl"),
    ("bad\x07name\x1b.txt", "badname.txt"),  # control characters
    ("evil\u202egpj.exe", "evilgpj.exe"),  # a right-to-left override hiding `.exe`
    ("nul.txt", "_nul.txt"),  # a Windows device
    ("notes.txt:hidden", "notes.txt_hidden"),  # an NTFS stream
    ('what?<>|"*.stl', "what______.stl"),
    ("trailing dot. ", "trailing dot"),
    ("．．／fullwidth.stl", "fullwidth.stl"),  # noqa: RUF001 (NFKC: ../fullwidth.stl)
    ("...", "file"),
    ("sub/..", "sub/file"),
    ("dup.stl", "dup.stl"),
    ("dup.stl", "dup (2).stl"),
    ("dup.stl", "dup (3).stl"),
]


def _asset(name: str) -> dict[str, str]:
    return {"name": name, "contentBase64": base64.b64encode(b"same").decode()}


def entries(response: Any) -> list[str]:
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as archive:
        return archive.namelist()


@pytest.fixture
def hostile_files(api: ApiClient) -> dict[str, Any]:
    """A product with a file under each hostile name, and a part of another product with the
    same files."""
    assets = [_asset(name) for name, _ in ZIP_NAMES]
    products = [
        {"name": "Ring", "assets": assets},
        {"name": "Brace", "parts": [{"name": "band", "assets": assets}]},
    ]
    response = api.post("/api/v1/orders", order_body("Z-1", products=products))
    assert response.status_code == 201, response.content
    return response.json()


def test_order_files_zip_entries_are_relative_portable_and_unique(
    staff: Client, hostile_files: dict[str, Any]
) -> None:
    # given products with files under hostile names / when the order's files are zipped
    names = entries(staff.get(f"/orders/{hostile_files['id']}/files.zip"))
    # then each is cleaned as the table says, in its product's folder, duplicates numbered
    expected = [f"{folder}/{entry}" for folder in ("Ring", "Brace") for _, entry in ZIP_NAMES]
    assert sorted(names) == sorted(expected)


def test_products_and_parts_zip_entries_are_relative_portable_and_unique(
    staff: Client, hostile_files: dict[str, Any]
) -> None:
    # given the hostile files of a product and of a part
    product = hostile_files["products"][0]
    part = hostile_files["products"][1]["parts"][0]
    # when they are exported with their files
    products = entries(staff.post("/export/products.zip", {"ids": [product["id"]]}))
    parts = entries(staff.post("/export/parts.zip", {"ids": [part["id"]]}))
    # then every entry is the cleaned name, in the row's folder
    folder = f"Ring ({product['id'][:8]})"
    assert products[0] == "products.csv"
    assert sorted(products[1:]) == sorted(f"{folder}/{entry}" for _, entry in ZIP_NAMES)
    folder = f"files/band ({part['id'][:8]})"
    assert parts[:2] == ["csv/parts.csv", "csv/manufacturing-data.csv"]
    assert sorted(parts[2:]) == sorted(f"{folder}/{entry}" for _, entry in ZIP_NAMES)


def test_a_folder_named_like_a_path_stays_one_folder(staff: Client, api: ApiClient) -> None:
    # given products whose names look like paths, and two differing only in case
    names = ["C:\\evil", "../up", "a/b", "ring", "RING"]
    products = [{"name": n, "assets": [_asset("f.stl")]} for n in names]
    order = api.post("/api/v1/orders", order_body("Z-2", products=products)).json()
    # when the order's files are zipped
    got = entries(staff.get(f"/orders/{order['id']}/files.zip"))
    # then each product is one folder at the top; the case twins share one (Windows and macOS
    # would merge them), their files numbered
    expected = ["_evil/f.stl", ".._up/f.stl", "a_b/f.stl", "ring/f.stl", "ring/f (2).stl"]
    assert sorted(n.casefold() for n in got) == sorted(expected)


# --- CSV cells: what a spreadsheet would run starts with = + - @ tab CR or LF.

# (text, its cell): names are trimmed at intake, so tab, CR and LF can only lead inside text
# data; they are tested in manufacturing data below.
NAMES = [
    ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
    ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
    ("-5", "-5"),  # text that is just a number runs nothing: left as it is
    ("+49", "+49"),
    ("-1.5e3", "-1.5e3"),
    ("a=b", "a=b"),
    ("plain", "plain"),
]


def _table(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def _sheets(response: Any) -> dict[str, list[list[str]]]:
    """The CSV sheets of an export: the CSV itself, or each CSV in its zip."""
    assert response.status_code == 200
    if response["Content-Type"].startswith("text/csv"):
        return {"csv": _table(response.content.decode())}
    data = b"".join(response.streaming_content)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {
            n: _table(archive.read(n).decode()) for n in archive.namelist() if n.endswith("csv")
        }


@pytest.fixture
def named_rows(api: ApiClient) -> list[dict[str, Any]]:
    """One order per hostile text, its product and part named the same."""
    made = []
    for i, (text, _) in enumerate(NAMES):
        products = [{"name": text, "units": 3, "value": "1.50", "parts": [{"name": text}]}]
        body = order_body(f"C-{i}", name=text, products=products)
        response = api.post("/api/v1/orders", body)
        assert response.status_code == 201, response.content
        made.append(response.json())
    return made


def test_orders_csv_neutralises_formulas_and_keeps_numbers(
    staff: Client, named_rows: list[dict[str, Any]]
) -> None:
    # when orders named as formulas are exported
    response = staff.post("/export/orders.csv", {"ids": [o["id"] for o in named_rows]})
    [header, *rows] = _sheets(response)["csv"]
    # then the Order column is neutralised, the Value column a plain number
    assert header == ["Order", "Status", "Value (€)", "Created at", "Deadline"]
    assert [(r[0], r[2]) for r in rows] == [(cell, "4.50") for _, cell in NAMES]


@pytest.mark.parametrize(("kind", "sheet"), [("csv", "csv"), ("zip", "products.csv")])
def test_products_csv_neutralises_formulas_and_keeps_numbers(
    staff: Client, named_rows: list[dict[str, Any]], kind: str, sheet: str
) -> None:
    ids = [o["products"][0]["id"] for o in named_rows]
    response = staff.post(f"/export/products.{kind}", {"ids": ids})
    [header, *rows] = _sheets(response)[sheet]
    assert header == ["Product", "Order", "Amount of units", "Value (€ per unit)", "Created at"]
    assert [r[:4] for r in rows] == [[cell, cell, "3", "1.50"] for _, cell in NAMES]


@pytest.mark.parametrize(("kind", "sheet"), [("csv", "csv"), ("zip-csv", "csv/parts.csv")])
def test_parts_csv_neutralises_formulas(
    staff: Client, named_rows: list[dict[str, Any]], kind: str, sheet: str
) -> None:
    ids = [o["products"][0]["parts"][0]["id"] for o in named_rows]
    response = staff.post(f"/export/parts.{kind}", {"ids": ids})
    [header, *rows] = _sheets(response)[sheet]
    assert header == ["Part", "Product", "Order", "Created at"]
    assert [r[:3] for r in rows] == [[cell, cell, cell] for _, cell in NAMES]


# (manufacturing value as JSON, its cell): JSON numbers are the sheet's numeric cells.
MANUFACTURING = {
    "a_equals": ("=1+1", "'=1+1"),
    "b_plus": ("+1+1", "'+1+1"),
    "c_minus": ("-1+1", "'-1+1"),
    "d_at": ("@x", "'@x"),
    "e_tab": ("\t=1+1", "'\t=1+1"),
    "f_cr": ("\r=1+1", "'\r=1+1"),
    "g_lf": ("\n=1+1", "'\n=1+1"),
    "h_negative_int": (-5, "-5"),
    "i_negative_float": (-2.5, "-2.5"),
    "j_number": (1161, "1161"),
    "k_number_as_text": ("-5", "-5"),
    "l_list": (["=1"], '["=1"]'),
    "m_true": (True, "True"),
}


def test_manufacturing_data_csv_neutralises_formulas_and_keeps_numbers(
    staff: Client, api: ApiClient
) -> None:
    # given a part whose manufacturing data holds formulas and numbers
    data = {key: value for key, (value, _) in MANUFACTURING.items()}
    products = [{"name": "=Ring", "parts": [{"name": "@band", "manufacturingData": data}]}]
    order = api.post("/api/v1/orders", order_body("M-1", name="+order", products=products))
    part = order.json()["products"][0]["parts"][0]
    # when the part is exported as a zip of CSVs
    response = staff.post("/export/parts.zip-csv", {"ids": [part["id"]]})
    [header, row] = _sheets(response)["csv/manufacturing-data.csv"]
    # then every text cell is neutralised and every number written as one
    assert header == ["Part ID", "Part", "Product", "Order", *MANUFACTURING]
    assert row == [part["id"], "'@band", "'=Ring", "'+order"] + [
        cell for _, cell in MANUFACTURING.values()
    ]
