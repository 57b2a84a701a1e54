"""fabflow seed: many realistic orders, consistent with what the API would have stored."""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import DecimalField, ExpressionWrapper, F, Sum
from django.utils import timezone

from fabflow.accounts.models import Organization, Space
from fabflow.accounts.services import create_secret_key
from fabflow.orders.models import Order, OrderEvent, Part, Product
from tests.factories import ApiClient, make_tenant, order_body

pytestmark = pytest.mark.django_db


def seed(*args: str) -> str:
    out = io.StringIO()
    call_command("seed", *args, stdout=out)
    return out.getvalue()


def snapshot(space_key: str) -> list[tuple[object, ...]]:
    """What a seed determines, in third-party id order (times are relative to when it ran)."""
    orders = Order.objects.filter(space__key=space_key).order_by("third_party_order_id")
    return [
        (
            o.third_party_order_id,
            o.customer_email,
            o.status,
            o.value,
            o.tag_index,
            o.deadline - o.created_at if o.deadline else None,
            [(p.name, p.units, p.unit_value, p.configuration) for p in o.products.all()],
        )
        for o in orders.prefetch_related("products")
    ]


def test_seeds_orders_with_products_parts_and_one_created_event_each() -> None:
    # when 40 orders are seeded in a new space
    output = seed("--orders", "40", "--space", "scale", "--org", "Scale Corp", "--batch", "15")
    # then the space and its organization exist and hold exactly 40 orders
    space = Space.objects.get(key="scale")
    assert space.organization.name == "Scale Corp"
    orders = Order.objects.filter(space=space)
    assert orders.count() == 40
    assert "orders/s" in output and "Seeded 40 orders" in output
    # every order has 1-3 products of 1-3 parts each, all in the space's organization
    for order in orders.prefetch_related("products__parts"):
        assert order.organization_id == space.organization_id
        products = list(order.products.all())
        assert 1 <= len(products) <= 3
        for product in products:
            assert 1 <= len(product.parts.all()) <= 3
            assert product.created_at == order.created_at
    assert not Product.objects.exclude(organization=space.organization).exists()
    # keys are time-ordered UUIDs (v7): sorting by key sorts by creation time
    by_id = list(orders.order_by("id").values_list("created_at", flat=True))
    assert by_id == sorted(by_id)
    assert {o.id.version for o in orders} == {7}
    part = Part.objects.filter(order__space=space).first()
    assert part is not None
    assert {"printTimeS", "filamentG", "machine"} <= part.manufacturing_data.keys()
    # and one order.created event per order, at the order's creation time
    events = OrderEvent.objects.filter(order__space=space)
    assert events.count() == 40
    assert set(events.values_list("kind", flat=True)) == {"order.created"}
    event = events.select_related("order").first()
    assert event is not None and event.created_at == event.order.created_at


def test_values_tags_and_creation_times_are_consistent() -> None:
    seed("--orders", "50")
    orders = Order.objects.filter(space__key="seed-space")
    assert Space.objects.get(key="seed-space").organization.name == "Seed Manufacturing"
    # the value of an order is the sum of units x unit value of its products (in the database)
    line = ExpressionWrapper(
        F("products__units") * F("products__unit_value"),
        output_field=DecimalField(max_digits=14, decimal_places=2),
    )
    totals = orders.annotate(total=Sum(line)).values_list("value", "total")
    assert len(totals) == 50
    for value, total in totals:
        assert value > 0
        assert Decimal(total).quantize(Decimal("0.01")) == value
    # the tag index lists the tags
    for order in orders:
        assert set(order.tags) <= {"vip", "rush", "gift"}
        expected = "".join(f"|{t}" for t in order.tags) + ("|" if order.tags else "")
        assert order.tag_index == expected
    # orders were created over the last year, not all at once, and were seeded as written
    now = timezone.now()
    created = list(orders.values_list("created_at", flat=True))
    assert len(set(created)) == 50
    assert all(now - timedelta(days=366) < c <= now for c in created)
    assert max(created) - min(created) > timedelta(days=180)
    assert all(o.updated_at >= o.created_at for o in orders)
    # a mix of statuses, customers and deadlines
    assert orders.filter(status="success").exists()
    assert orders.filter(deadline__isnull=False).exists()
    assert orders.filter(deadline__isnull=True).exists()
    assert all("@" in o.customer_email and o.customer_info["name"] for o in orders)


def test_the_same_seed_gives_the_same_orders() -> None:
    seed("--orders", "30", "--space", "one", "--seed", "7")
    seed("--orders", "30", "--space", "two", "--seed", "7")
    seed("--orders", "30", "--space", "three", "--seed", "8")
    one, two, three = snapshot("one"), snapshot("two"), snapshot("three")
    assert [row[0] for row in one][:2] == ["WEB-000001", "WEB-000002"]
    assert one == two
    assert one != three
    # the same organization holds all three spaces
    assert Organization.objects.count() == 1


def test_a_second_run_adds_more_orders_without_id_collisions() -> None:
    seed("--orders", "25", "--space", "again")
    seed("--orders", "25", "--space", "again")
    ids = list(Order.objects.filter(space__key="again").values_list("third_party_order_id"))
    assert len(ids) == 50 == len(set(ids))
    assert Order.objects.filter(third_party_order_id="WEB-000050").exists()


def test_seeded_orders_are_visible_through_the_api_of_their_space_only() -> None:
    seed("--orders", "12", "--space", "api-space")
    _key, secret = create_secret_key(space=Space.objects.get(key="api-space"))
    api = ApiClient(secret)
    page = api.get("/api/v1/orders", limit=100)
    assert page.status_code == 200
    items = page.json()["items"]
    assert len(items) == 12
    assert {i["spaceKey"] for i in items} == {"api-space"}
    detail = api.get(f"/api/v1/orders/{items[0]['id']}").json()
    assert detail["products"] and detail["products"][0]["parts"]
    assert detail["customerInfo"]["email"] == detail["customerEmail"]
    # and another tenant sees none of them
    other = make_tenant("Other", "other-space")
    assert ApiClient(other.secret).get("/api/v1/orders").json()["items"] == []


def test_an_existing_space_of_another_organization_is_refused() -> None:
    make_tenant("Acme", "acme-rings")
    with pytest.raises(CommandError, match="belongs to organization"):
        seed("--orders", "1", "--space", "acme-rings", "--org", "Someone Else")
    with pytest.raises(CommandError):
        seed("--orders", "0")
    # seeding an existing space without --org uses it
    seed("--orders", "3", "--space", "acme-rings", "-v", "0")
    assert Order.objects.filter(space__key="acme-rings").count() == 3


def test_after_seeding_new_orders_get_the_current_time() -> None:
    # the seed keeps its own creation times only while it runs
    seed("--orders", "5", "-v", "0")
    before = timezone.now()
    tenant = make_tenant("Later", "later-space")
    order_id = ApiClient(tenant.secret).post("/api/v1/orders", order_body()).json()["id"]
    order = Order.objects.get(pk=order_id)
    assert order.created_at >= before and order.updated_at >= before
    assert OrderEvent.objects.filter(order=order).earliest("created_at").created_at >= before


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's page cache")
def test_seeding_gives_back_sqlites_page_cache_size() -> None:
    def cache_size() -> int:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA cache_size")
            return int(cursor.fetchone()[0])

    before = cache_size()
    seed("--orders", "5", "-v", "0")
    assert cache_size() == before != -262144
