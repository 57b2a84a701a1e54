"""Service-layer baseline of bench/intake.py: order intake without HTTP.

Run by intake.py in a subprocess with the server's DATABASE_URL, FABFLOW_DATA_DIR and
DJANGO_SETTINGS_MODULE=fabflow.settings. Resolves the space from the secret key in
FABFLOW_BENCH_KEY, then, in one thread, validates the same kind of body as the HTTP clients
send (`OrderIn.model_validate`) and calls `fabflow.orders.services.create_order` in a loop for
`--seconds`. Prints one JSON line: orders, seconds, orders per second and the time split.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import django
from _orders import order_body

WARMUP_ORDERS = 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--prefix", required=True, help="thirdPartyOrderId prefix of this run")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fabflow.settings")
    django.setup()
    from fabflow.accounts.services import authenticate_secret_key
    from fabflow.orders.schemas import OrderIn
    from fabflow.orders.services import create_order

    key = authenticate_secret_key(os.environ["FABFLOW_BENCH_KEY"])
    if key is None:
        raise SystemExit("FABFLOW_BENCH_KEY is not an active secret key")
    space = key.space

    def one(seq: int) -> tuple[float, float]:
        body = order_body(f"{args.prefix}{seq}", seq)
        t0 = time.perf_counter()
        payload = OrderIn.model_validate(body)
        t1 = time.perf_counter()
        create_order(space=space, payload=payload, actor="bench")
        return t1 - t0, time.perf_counter() - t1

    for seq in range(WARMUP_ORDERS):
        one(seq)
    seq = WARMUP_ORDERS
    validate = create = 0.0
    start = time.perf_counter()
    deadline = start + args.seconds
    while time.perf_counter() < deadline:
        v, c = one(seq)
        validate += v
        create += c
        seq += 1
    elapsed = time.perf_counter() - start
    n = seq - WARMUP_ORDERS
    print(
        json.dumps(
            {
                "orders": n,
                "seconds": elapsed,
                "ordersPerSecond": n / elapsed,
                "validateMsPerOrder": 1000 * validate / n,
                "createMsPerOrder": 1000 * create / n,
            }
        )
    )


if __name__ == "__main__":
    main()
