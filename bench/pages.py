"""Page speed at scale: server time of the orders, products and parts pages.

Seeds (once, kept in --data-dir) an organization with --orders orders through `fabflow seed`,
then measures in-process with Django's test client — server time without the network — the
first page, filtered / sorted / searched pages, and a deep page (a keyset cursor 3/4 into the
list) of each table. Prints p50/p95/max per page against the target (p95 under 50 ms), and,
for information, the Django admin's change list of orders with and without search on the same
data. Timings are figures, not tests.

    .venv/bin/python bench/pages.py                      # SQLite, 200,000 orders
    .venv/bin/python bench/pages.py --database-url postgres://postgres@127.0.0.1:5432/fabflow_pages
    .venv/bin/python bench/pages.py --only parts         # the pages whose name contains "parts"
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

TARGET_P95_MS = 50.0


def setup(args: argparse.Namespace) -> None:
    data_dir = Path(args.data_dir or f"/tmp/fabflow-pagebench-{_db_label(args.database_url)}")
    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ["FABFLOW_DATA_DIR"] = str(data_dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "fabflow.settings"
    os.environ["DEBUG"] = "false"
    os.environ["LOG_LEVEL"] = "WARNING"
    if args.database_url:
        os.environ["DATABASE_URL"] = args.database_url
        _create_postgres_db(args.database_url)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    import django

    django.setup()


def _db_label(url: str | None) -> str:
    return "sqlite" if not url else url.rsplit("/", 1)[-1]


def _create_postgres_db(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[-1]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def seed(count: int) -> Any:
    from django.core.management import call_command

    from fabflow.accounts.models import Space
    from fabflow.orders.models import Order

    call_command("migrate", verbosity=0)
    space = Space.objects.filter(key="seed-space").first()
    have = Order.objects.filter(space=space).count() if space else 0
    if have < count:
        print(f"seeding {count - have} orders (have {have}) ...", flush=True)
        call_command("seed", orders=count - have)
        space = Space.objects.get(key="seed-space")
    return space


def users(space: Any) -> tuple[Any, Any]:
    from fabflow.accounts.models import User

    member, _ = User.objects.get_or_create(
        email="bench@seed.example",
        defaults={"organization": space.organization, "role": "admin", "tags": ["vip"]},
    )
    superuser, _ = User.objects.get_or_create(
        email="root@seed.example", defaults={"is_staff": True, "is_superuser": True}
    )
    return member, superuser


def deep_cursor(qs: Any, ordering: str, keys: Any) -> str:
    """A keyset cursor three quarters into `qs` (what "Next page" would reach after many)."""
    from django.core import signing

    from fabflow.core.pagination import CURSOR_SALT, _encode

    name = ordering.lstrip("-")
    annotated = qs.annotate(_sort=keys[name].expression)
    order = ["-_sort", "-id"] if ordering.startswith("-") else ["_sort", "id"]
    total = qs.count()
    row = annotated.order_by(*order).values_list("_sort", "id")[total * 3 // 4]
    return signing.dumps([ordering, _encode(row[0]), str(row[1])], salt=CURSOR_SALT)


def scenarios(space: Any) -> list[tuple[str, str, bool]]:
    from datetime import timedelta

    from django.utils import timezone

    from fabflow.orders.filters import ORDER_SORT, PART_SORT, PRODUCT_SORT
    from fabflow.orders.models import Order, Part, Product

    orders = Order.objects.filter(space=space)
    sample = orders.order_by("created_at")[orders.count() // 2]
    term = sample.customer_email.split("@")[0][:5]
    # The middle half of the seeded year, as the web table's date inputs send it.
    now = timezone.now()
    after, before = ((now - timedelta(days=d)).date() for d in (270, 90))
    q_orders = deep_cursor(orders, "-createdAt", ORDER_SORT)
    products = Product.objects.filter(order__space=space)
    q_products = deep_cursor(products, "-createdAt", PRODUCT_SORT)
    parts = Part.objects.filter(order__space=space)
    q_parts = deep_cursor(parts, "-createdAt", PART_SORT)
    return [
        ("orders: first page", "/orders", False),
        ("orders: search", f"/orders?q={term}", False),
        (
            "orders: status + search + sort by value",
            f"/orders?status=success&q={term}&ordering=-value",
            False,
        ),
        (
            "orders: created range + sort by deadline",
            f"/orders?createdAfter={after}&createdBefore={before}&ordering=deadline",
            False,
        ),
        ("orders: deep page", f"/orders?cursor={q_orders}", False),
        ("products: first page", "/products", False),
        ("products: search + sort by units", "/products?q=ring&ordering=-units", False),
        # A configuration value: common ("silver") and rare (a finish of one catalogue item).
        ("products: search a configuration value", "/products?q=silver", False),
        ("products: search a rare configuration value", "/products?q=hammered", False),
        ("products: deep page", f"/products?cursor={q_products}", False),
        ("parts: first page", "/parts", False),
        ("parts: search + sort by name", "/parts?q=band&ordering=name", False),
        # A rare term: without an index the whole list is read to find its few rows.
        ("parts: search an order number", f"/parts?q={sample.third_party_order_id}", False),
        ("parts: deep page", f"/parts?cursor={q_parts}", False),
        ("admin: orders change list", "/admin/orders/order/", True),
        ("admin: orders change list with search", f"/admin/orders/order/?q={term}", True),
    ]


def measure(client: Any, path: str, repeat: int) -> list[float]:
    for _ in range(2):
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
    # A filter the page ignores would measure another page.
    assert b"Ignored invalid filter" not in response.content, path
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    return times


def p95(values: list[float]) -> float:
    """Nearest-rank 95th percentile (never above the maximum)."""
    ordered = sorted(values)
    return ordered[max(0, -(-len(ordered) * 95 // 100) - 1)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--only", default="", help="measure the pages whose name contains this")
    parser.add_argument("--no-admin", action="store_true", help="skip the admin's pages")
    args = parser.parse_args()
    setup(args)
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()
    space = seed(args.orders)
    member, superuser = users(space)
    app, admin = Client(), Client()
    app.force_login(member)
    admin.force_login(superuser)
    from django.db import connection

    print(f"\n{connection.vendor}, {args.orders:,} orders, {args.repeat} requests per page\n")
    print(f"{'page':48} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    worst = 0.0
    for name, path, is_admin in scenarios(space):
        if args.only not in name or (is_admin and args.no_admin):
            continue
        times = measure(admin if is_admin else app, path, args.repeat)
        if is_admin:
            flag = "  (information)"
        else:
            worst = max(worst, p95(times))
            flag = "" if p95(times) < TARGET_P95_MS else "  (over target)"
        print(
            f"{name:48} {statistics.median(times):8.1f} {p95(times):8.1f} {max(times):8.1f}{flag}"
        )
    print(f"\nworst p95 of the app's pages: {worst:.1f} ms (target < {TARGET_P95_MS:.0f} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
