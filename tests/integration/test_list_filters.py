"""The lists' filters: text search (icontains, through FTS5 trigram tables on SQLite), the
created range and the deadline sort, on every database the suite runs on."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection
from django.db.models import Q, QuerySet
from django.test import Client
from django.test.utils import CaptureQueriesContext

from fabflow.core import search
from fabflow.orders.filters import ORDER_SORT, OrderFilter, PartFilter, ProductFilter
from fabflow.orders.models import Order, Part, Product
from tests.factories import ApiClient, Tenant, order_body

sqlite_only = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="the FTS5 search index is SQLite's"
)
postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the pg_trgm search indexes are PostgreSQL's"
)

NAMES = [
    'Ring "Deluxe"',
    "50% off_sale",
    "a*b-c (NEAR x)",
    "AND OR NOT",
    "{name} : ^start",
    "back\\slash",
    "O'Brien",
    "ÉCOLE Ünïcödé",
    "école",
    "straße",
    "日本語の指輪",
    "emoji 💍 ring",
    "tab\tand  two spaces",
]
QUERIES = [
    '"',
    '"deluxe"',
    'ring "d',
    "%",
    "50%",
    "_s",
    "off_",
    "a*b",
    "*",
    "-c",
    "(near",
    "near x)",
    "and or",
    "{name}",
    "^st",
    "\\",
    "k\\s",
    "o'b",
    "école",
    "ÉCOLE",
    "cole",
    "ÜNÏ",
    "STRASSE",
    "日本",
    "日本語",
    "💍 r",
    "\t",
    "  two",
    "e",
    "ri",
    "zz",
    "WEB-",
    "web-00",
    "ex.com",
    "x" * 200,
]
# The ways a search can run (see core/search.py): with the term's matches listed as ids, or
# tested with icontains on the walk of the list (too many to list, or no index can find it).
MODES = {
    "icontains": {"MIN_CHARS": 10**9},
    "matches listed": {"LIST_MAX": 10**9},
    "icontains on the walk": {"LIST_MAX": 0},
}


@pytest.fixture
def catalog(tenant: Tenant) -> None:
    """One order per name, with a product and a part named after it, and a plain product whose
    configuration has the name as a value."""
    for i, name in enumerate(NAMES):
        order = Order.objects.create(
            organization=tenant.org,
            space=tenant.space,
            name=f"WEB-{i:04d} {name}",
            third_party_order_id=f"T{i}",
            customer_email=f"c{i}@ex.com",
        )
        for j, product_name in enumerate([name, "plain"]):
            product = Product.objects.create(
                organization=tenant.org,
                order=order,
                position=j,
                name=product_name,
                configuration_id=f"cfg-{name}",
                configuration={"finish": name} if product_name == "plain" else {},
            )
            Part.objects.create(
                organization=tenant.org, order=order, product=product, name=f"part {name}"
            )
    if connection.vendor == "postgresql":  # the search's estimates, from these rows
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE orders_order, orders_product, orders_part")


@pytest.fixture(params=list(MODES))
def mode(request: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    for name, value in MODES[request.param].items():
        monkeypatch.setattr(search, name, value)
    return str(request.param)


def ids(qs: QuerySet[Any]) -> set[Any]:
    return set(qs.values_list("pk", flat=True))


def icontains(q: str, *columns: str) -> Q:
    cond = Q(pk__in=[])
    for column in columns:
        cond |= Q(**{f"{column}__icontains": q})
    return cond


@pytest.mark.parametrize("q", QUERIES)
def test_search_finds_exactly_what_icontains_finds(catalog: None, mode: str, q: str) -> None:
    q = q.strip()  # the filters strip the term
    orders = icontains(q, "name", "third_party_order_id", "customer_email")
    assert ids(OrderFilter(q=q).apply(Order.objects.all())) == ids(Order.objects.filter(orders))
    products = icontains(q, "name", "configuration_id", "configuration", "order__name")
    assert ids(ProductFilter(q=q).apply(Product.objects.all())) == ids(
        Product.objects.filter(products)
    )
    parts = icontains(q, "name", "product__name", "order__name")
    assert ids(PartFilter(q=q).apply(Part.objects.all())) == ids(Part.objects.filter(parts))


def test_products_and_parts_are_found_by_their_order_and_product(catalog: None, mode: str) -> None:
    def names(qs: QuerySet[Any]) -> list[str]:
        return sorted(qs.values_list("name", flat=True))

    assert names(ProductFilter(q="web-0011").apply(Product.objects.all())) == [
        "emoji 💍 ring",
        "plain",
    ]
    assert names(PartFilter(q="web-0011").apply(Part.objects.all())) == ["part emoji 💍 ring"] * 2
    # "💍 ring" is in the name of one product (and of each part of that order)
    assert PartFilter(q="💍 ring").apply(Part.objects.all()).count() == 2
    assert PartFilter(q="plain").apply(Part.objects.all()).count() == len(NAMES)


@sqlite_only
def test_searches_of_three_or_more_characters_use_the_trigram_index(
    api: ApiClient, catalog: None
) -> None:
    def sql(q: str) -> str:
        with CaptureQueriesContext(connection) as queries:
            assert api.get("/api/v1/parts", q=q).status_code == 200
        return " ".join(query["sql"] for query in queries)

    assert "orders_part_search" in sql("deluxe")
    assert "orders_order_search" in sql("deluxe")
    assert "_search" not in sql("ri")  # too short for trigrams: LIKE


def test_a_rare_term_is_passed_as_ids_and_a_common_one_tested_on_the_walk(
    catalog: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def sql(q: str) -> str:
        return str(PartFilter(q=q).apply(Part.objects.all()).order_by().values("pk").query)

    # given at most 3 ids listed per searched table
    monkeypatch.setattr(search, "LIST_MAX", 3)
    # "deluxe": 1 part by its name, 1 product and so 1 part by its product, 1 order and so its
    # 2 parts by their order: each as ids, read by key, with no LIKE left to test on a walk.
    rare = sql("deluxe")
    assert "LIKE" not in rare
    for column in ("id", "product_id", "order_id"):
        assert f'"orders_part"."{column}" IN (' in rare
    assert "IN (SELECT" not in rare and "EXISTS" not in rare
    # "web-": in the name of all 13 orders, more than 3: each part's order is tested on the
    # walk, by its primary key; no part or product is named so: left out.
    common = sql("web-")
    assert 'EXISTS(SELECT 1 AS "a" FROM "orders_order" U0 WHERE' in common
    assert '"orders_part"."product_id"' not in common
    assert '"orders_part"."name"' not in common
    assert "LIKE" in sql("ri")  # too short for trigrams: icontains on the walk


def test_a_term_that_nothing_contains_reads_no_page(catalog: None) -> None:
    with CaptureQueriesContext(connection) as queries:
        assert not OrderFilter(q="qqq").apply(Order.objects.all()).exists()
    # the index found none (SQLite: the FTS table's count; PostgreSQL: the planner's estimate,
    # then the ids): no page query at all
    assert len(queries) == (1 if connection.vendor == "sqlite" else 2)


@postgresql_only
def test_a_term_that_the_statistics_find_common_is_not_listed(
    analyzed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def sql(q: str) -> tuple[str, list[str]]:
        with CaptureQueriesContext(connection) as queries:
            page = str(OrderFilter(q=q).apply(Order.objects.all()).order_by().values("pk").query)
        return page, [query["sql"] for query in queries]

    # given at most 20 ids listed, "ord-99" in 11 of the 1,000 analyzed orders, "ord-" in all
    monkeypatch.setattr(search, "LIST_MAX", 20)
    # a rare term: the planner's estimate, then the ids, which the page reads by key
    page, queries = sql("ord-99")
    assert queries[0].startswith("EXPLAIN") and "LIMIT 21" in queries[1]
    assert "LIKE" not in page and '"orders_order"."id" IN (' in page
    # a common one: the estimate alone; the page tests icontains on the walk
    page, queries = sql("ord-")
    assert len(queries) == 1 and queries[0].startswith("EXPLAIN")
    assert 'UPPER("orders_order"."name"::text) LIKE' in page


@postgresql_only
def test_a_term_without_a_word_is_not_looked_up_in_the_trigram_index(catalog: None) -> None:
    # pg_trgm takes its trigrams from words: "-'(" has none, and the index would be read whole
    with CaptureQueriesContext(connection) as queries:
        page = str(PartFilter(q="-'(").apply(Part.objects.all()).order_by().values("pk").query)
    assert len(queries) == 0
    assert 'UPPER("orders_part"."name"::text) LIKE' in page


@pytest.fixture
def analyzed(tenant: Tenant) -> None:
    """1,000 orders, products and parts (ORD-0…ORD-999, P…, X…), analyzed: with a few rows the
    planner prefers a scan, or any other index, to a GIN index."""
    org = tenant.org
    orders = Order.objects.bulk_create(
        Order(organization=org, space=tenant.space, name=f"ORD-{i}", third_party_order_id=f"T{i}")
        for i in range(1000)
    )
    products = Product.objects.bulk_create(
        Product(organization=org, order=o, position=0, name=f"P{i}", configuration_id=f"C{i}")
        for i, o in enumerate(orders)
    )
    Part.objects.bulk_create(
        Part(organization=org, order=p.order, product=p, name=f"X{i}")
        for i, p in enumerate(products)
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT gin_clean_pending_list(indexrelid::regclass) FROM pg_index "
            "WHERE indexrelid::regclass::text LIKE '%\\_search'"
        )
        cursor.execute("ANALYZE orders_order, orders_product, orders_part")


@postgresql_only
@pytest.mark.parametrize("model", [Order, Product, Part])
def test_every_searched_column_is_found_by_its_model_s_trigram_index(
    analyzed: None, model: Any
) -> None:
    # The index must be on exactly the expression of icontains, or PostgreSQL never uses it.
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # for this test's transaction
    for column in model.search.own:
        rows = model.objects.filter(**{f"{column}__icontains": "deluxe"}).order_by()
        plan = rows.values("pk").explain()
        assert f"Bitmap Index Scan on {model._meta.model_name}_search" in plan, plan


def test_a_related_column_is_searched_in_its_own_model_s_declaration() -> None:
    for model in (Order, Product, Part):
        for fk, columns in model.search.related.items():
            related = model._meta.get_field(fk).related_model
            assert set(columns) <= set(related.search.own), (model, fk)


def fts_ok(table: str) -> None:
    """FTS5's own check that the index holds exactly the rows of its content table."""
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table}({table}) VALUES ('integrity-check')")  # noqa: S608


@sqlite_only
def test_the_index_follows_inserts_updates_and_deletes(api: ApiClient, tenant: Tenant) -> None:
    def found(q: str) -> set[str]:
        return {str(pk) for pk in ids(OrderFilter(q=q).apply(Order.objects.all()))}

    a = api.post("/api/v1/orders", order_body("SHOP-ALPHA")).json()["id"]
    b = api.post("/api/v1/orders", order_body("SHOP-BRAVO")).json()["id"]
    assert found("shop-") == {a, b}
    order = Order.objects.get(pk=a)
    order.name = "Renamed"
    order.save()
    order.status = "success"
    order.save()  # no searched column changed
    Order.objects.filter(pk=b).update(customer_email="zed@example.org")
    assert found("renamed") == {a}
    assert found("-alpha") == {a}  # still its third-party id
    assert found("zed@") == {b}
    Order.objects.filter(pk=b).delete()  # with its products and parts
    assert found("shop-") == {a}
    for table in ("orders_order_search", "orders_product_search", "orders_part_search"):
        fts_ok(table)


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_vacuum_keeps_the_rowids_that_the_index_refers_to(tenant: Tenant) -> None:
    for i in range(30):
        Order.objects.create(
            organization=tenant.org,
            space=tenant.space,
            name=f"N{i:02d}",
            third_party_order_id=str(i),
        )
    Order.objects.filter(name__endswith="0").delete()  # leaves gaps in the rowids
    with connection.cursor() as cursor:
        cursor.execute("VACUUM")
    fts_ok("orders_order_search")
    found = OrderFilter(q="n1").apply(Order.objects.all()).values_list("name", flat=True)
    assert sorted(found) == [f"N1{i}" for i in range(1, 10)]


@sqlite_only
def test_every_migration_leaves_the_search_triggers_in_place(db: None) -> None:
    # Django rebuilds a table on SQLite for many schema changes, dropping its triggers: the
    # post_migrate step makes them again (core/search.py, repair_fts).
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        triggers = {row[0] for row in cursor.fetchall()}
    for table in ("orders_order", "orders_product", "orders_part"):
        assert {f"{table}_search_{t}" for t in ("insert", "update", "delete")} <= triggers


def test_a_plain_date_means_the_start_of_that_day(api: ApiClient, member: Any) -> None:
    early = api.post("/api/v1/orders", order_body("EARLY")).json()["id"]
    late = api.post("/api/v1/orders", order_body("LATE")).json()["id"]
    Order.objects.filter(pk=early).update(created_at=datetime(2026, 2, 28, 23, 59, tzinfo=UTC))
    Order.objects.filter(pk=late).update(created_at=datetime(2026, 3, 1, 0, 0, tzinfo=UTC))

    def listed(**params: str) -> list[str]:
        response = api.get("/api/v1/orders", **params)
        assert response.status_code == 200, response.content
        return [o["id"] for o in response.json()["items"]]

    assert listed(createdAfter="2026-03-01") == [late]
    assert listed(createdBefore="2026-03-01") == [early]
    # the web table's date inputs send exactly this
    browser = Client()
    browser.force_login(member)
    page = browser.get("/orders", {"createdAfter": "2026-03-01"}).content.decode()
    assert "Ignored invalid filter" not in page
    assert late in page and early not in page
    assert api.get("/api/v1/orders", createdAfter="2026-02-30").status_code == 422
    assert api.get("/api/v1/orders", createdAfter="2026-03-01T00:00:00").status_code == 422


@sqlite_only
def test_the_deadline_sort_walks_its_index_and_a_created_range_reads_one_index(
    tenant: Tenant,
) -> None:
    def page(orders: QuerySet[Order]) -> str:
        orders = orders.annotate(_sort=ORDER_SORT["deadline"].expression)
        return str(orders.order_by("_sort", "id").values_list("pk", "_sort")[:51].explain())

    orders = Order.objects.filter(organization=tenant.org)
    assert "order_org_deadline" in page(orders)
    assert "TEMP B-TREE" not in page(orders)
    in_range = orders.filter(created_at__gte=datetime(2026, 3, 1, tzinfo=UTC))
    assert "COVERING INDEX order_org_created" in page(in_range)
