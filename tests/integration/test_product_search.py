"""The products' text search (`q`, in the API and the web table) finds a product by a value of
its configuration, whether the term's matches are listed or tested on the walk of the list."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client

from fabflow.core import search
from tests.factories import ApiClient, order_body


@pytest.fixture(params=["matches listed", "icontains on the walk"])
def mode(request: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "icontains on the walk":
        monkeypatch.setattr(search, "LIST_MAX", 0)
    return str(request.param)


@pytest.fixture
def catalog(api: ApiClient) -> None:
    """Two orders: rings in silver and in Weißgold, with their parts."""
    for tpo, material in (("WEB-1", "silver"), ("WEB-2", "Weißgold")):
        body = order_body(tpo)
        for product in body["products"]:
            product["configuration"] = {"material": material, "size": 17}
        assert api.post("/api/v1/orders", body).status_code == 201
    if connection.vendor == "postgresql":  # the search's estimates, from these rows
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE orders_product")


@pytest.mark.parametrize("q", ["silver", "SILVER", "ilve"])
def test_the_api_finds_products_by_a_configuration_value(
    catalog: None, mode: str, api: ApiClient, q: str
) -> None:
    items = api.get("/api/v1/products", q=q).json()["items"]
    assert sorted((p["name"], p["configuration"]["material"]) for p in items) == [
        ("Ring 0", "silver"),
        ("Ring 1", "silver"),
    ]


def test_a_non_ascii_configuration_value_is_found(catalog: None, mode: str, api: ApiClient) -> None:
    items = api.get("/api/v1/products", q="Weißgold").json()["items"]
    assert sorted(p["configuration"]["material"] for p in items) == ["Weißgold", "Weißgold"]


def test_the_products_table_finds_a_configuration_value(
    catalog: None, mode: str, client: Client, member: Any
) -> None:
    client.force_login(member)
    html = client.get("/products", {"q": "weißgold"}).content.decode()
    assert html.count(">Ring 0</a>") == 1
    assert html.count(">Ring 1</a>") == 1
    assert ">WEB-1</a>" not in html
    assert ">WEB-2</a>" in html


def test_a_large_configuration_is_stored_and_found(api: ApiClient) -> None:
    # a configuration larger than any B-tree entry (2,704 bytes on PostgreSQL): the sort
    # indexes do not carry it
    body = order_body()
    body["products"][0]["configuration"] = {"engraving": "x" * 20_000 + " forever"}
    assert api.post("/api/v1/orders", body).status_code == 201
    items = api.get("/api/v1/products", q="x forever").json()["items"]
    assert [p["name"] for p in items] == ["Ring 0"]
