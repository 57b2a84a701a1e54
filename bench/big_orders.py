"""How long one big order's write holds SQLite's write lock, by size: the figures behind the
order limits (FABFLOW_MAX_PARTS_PER_ORDER and friends, docs/api.md "Limits").

On a fresh SQLite file (WAL, `BEGIN IMMEDIATE`, as in production) it writes orders of
--products products with 1 .. --parts parts each (parts named like a shop names them, a small
`data` and `manufacturingData` object each), exactly as `POST /api/v1/orders` does inside its
transaction: build the rows, insert them, serialize the response. It prints, per size, the
body's bytes, the time spent validating the body (outside the lock) and the time the write
transaction held the lock (median of --repeat runs). PostgreSQL with DATABASE_URL=postgres://…

    .venv/bin/python bench/big_orders.py
    .venv/bin/python bench/big_orders.py --products 100 --parts 10 50 100 --repeat 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from typing import Any


def big_body(tpo: str, products: int, parts: int, assets: int = 0) -> dict[str, Any]:
    """A create-order body of `products` products with `parts` parts each, and `assets` assets
    fetched from a URL on the order (each one row and one download job)."""
    return {
        "thirdPartyOrderId": tpo,
        "customerEmail": "ann@example.com",
        "assets": [
            {"name": f"a{i}.stl", "url": f"https://files.example.com/{i}.stl"}
            for i in range(assets)
        ],
        "products": [
            {
                "name": f"Bracket {p}",
                "configurationId": f"cfg-{p}",
                "configuration": {"size": p % 40, "material": "PA12"},
                "units": 1 + p % 3,
                "value": "12.50",
                "parts": [
                    {
                        "name": f"part {p}-{i}",
                        "data": {"material": "PA12", "color": "black"},
                        "manufacturingData": {"volumeMm3": 812.5 + i, "printer": "sls-2"},
                    }
                    for i in range(parts)
                ],
            }
            for p in range(products)
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=100)
    parser.add_argument("--parts", type=int, nargs="+", default=[10, 20, 50, 100])
    parser.add_argument("--assets", type=int, default=0, help="URL assets on each order")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix="fabflow-big-")
    os.environ.setdefault("FABFLOW_DATA_DIR", data_dir)
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{data_dir}/bench.sqlite3")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fabflow.settings")
    # Measure above the limits too: lift them in this process only.
    for name in ("PRODUCTS_PER_ORDER", "PARTS_PER_ORDER", "PARTS_PER_PRODUCT", "ASSETS_PER_ORDER"):
        os.environ.setdefault(f"FABFLOW_MAX_{name}", "1000000")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from fabflow.accounts.services import create_organization, create_space
    from fabflow.orders.api import _new_order_body
    from fabflow.orders.schemas import OrderIn
    from fabflow.orders.services import intake_order

    call_command("migrate", verbosity=0)
    org = create_organization(name=f"Bench {time.time_ns()}")
    space = create_space(organization=org, key=f"bench-{time.time_ns()}")
    print(f"database: {connection.vendor}")
    print(f"assets per order: {args.assets}")
    print("products  parts/product  parts   body MB  validate s  lock held s (median, max)")
    for per_product in args.parts:
        held: list[float] = []
        validated: list[float] = []
        size = 0
        for run in range(args.repeat):
            tpo = f"BIG-{per_product}-{run}-{time.time_ns()}"
            body = big_body(tpo, args.products, per_product, args.assets)
            raw = json.dumps(body)
            size = len(raw)
            t0 = time.perf_counter()
            payload = OrderIn.model_validate(json.loads(raw))
            t1 = time.perf_counter()
            with transaction.atomic():  # BEGIN IMMEDIATE on SQLite: the lock is held from here
                new = intake_order(space=space, payload=payload, actor="bench")
                _new_order_body(new)
            t2 = time.perf_counter()
            validated.append(t1 - t0)
            held.append(t2 - t1)
        print(
            f"{args.products:8}  {per_product:13}  {args.products * per_product:6}  "
            f"{size / 1e6:7.2f}  {statistics.median(validated):10.3f}  "
            f"{statistics.median(held):6.3f}, {max(held):.3f}"
        )


if __name__ == "__main__":
    main()
