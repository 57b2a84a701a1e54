"""Flow validation benchmark: time to validate (and draw) large flow definitions.

Prints, for definitions of growing size, the median time of `validate_definition` and of the
editor's graph (`render_svg`), and each time's ratio to the smallest size of its row: a ratio
that grows like the size means linear work, like its square quadratic work.

- stages: N stages of one `wait` task each (1k, 10k, 20k);
- chain: one stage holding an N-task chain (1k, 10k);
- body: the text of a POST /flows body of about 4.9 MB (15k stages with e-mail templates),
  parsed as JSON and validated (the API now refuses such a body with 413 before parsing it);
- graph: one stage holding an N-task chain where every task also skips to the task after next,
  drawn as the web editor's live preview draws it (500, 1k, 2k);
- stages*, chain*, graph*: where the code has caps, the same work without them (the checks
  behind the caps; the graph drawing every task), to show that it is linear too.

No database, no Django: it imports fabflow.flows only, so the same script measures any
checkout. Run it with that checkout's interpreter:

    .venv/bin/python bench/flow_validation.py
    (cd /work/base && .venv/bin/python /work/main/bench/flow_validation.py)   # the old code
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from fabflow.flows import graph
from fabflow.flows.definition import validate_definition
from fabflow.flows.graph import render_svg
from fabflow.flows.handlers.payloads import BUILTIN_PAYLOADS


def wait_task(key: str, *targets: str) -> dict[str, Any]:
    nexts = [{"taskDefinitionKey": target, "trigger": "success"} for target in targets]
    return {"key": key, "handlerKey": "wait", "payload": {"durationMs": 1000}, "next": nexts}


def mail_task(key: str) -> dict[str, Any]:
    payload = {
        "recipients": ["{customerEmail}", "ops@shop.example"],
        "subject": "Order {order.name} for {customerInfo.name}",
        "body": "Dear {customerInfo.name},<br>your order {order.name} is on its way.",
    }
    return {"key": key, "handlerKey": "send-email", "payload": payload, "next": []}


def stages(count: int) -> list[dict[str, Any]]:
    return [
        {"key": f"s{i}", "name": f"Stage {i}", "taskDefinitions": [wait_task(f"t{i}")]}
        for i in range(count)
    ]


def chain(count: int, skip: bool = False) -> list[dict[str, Any]]:
    keys = [f"t{i}" for i in range(count)]
    tasks = [
        wait_task(key, *keys[index + 1 : index + (3 if skip else 2) : 2 if skip else 1])
        for index, key in enumerate(keys)
    ]
    return [{"key": "s", "name": "One stage", "taskDefinitions": tasks}]


def body_text() -> str:
    definition = [
        {"key": f"s{i}", "name": f"Stage {i}", "taskDefinitions": [mail_task(f"t{i}")]}
        for i in range(15_000)
    ]
    return json.dumps({"name": "big-flow", "definition": definition})


def median_seconds(work: Callable[[], object], repeat: int) -> float:
    """As timeit does, without the garbage collector: its passes grow with the heap."""
    times = []
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            started = time.perf_counter()
            work()
            times.append(time.perf_counter() - started)
        finally:
            gc.enable()
    return statistics.median(times)


def row(
    label: str,
    sizes: list[int],
    make: Callable[[int], Any],
    work: Callable[[Any], object],
    repeat: int,
) -> None:
    """Times `work` on `make(size)` for each size (the making is not timed)."""
    first = None
    for size in sizes:
        made = make(size)
        seconds = median_seconds(lambda: work(made), repeat)  # noqa: B023 (called at once)
        first = first or seconds
        ratio = seconds / first
        print(f"{label:<8} {size:>9,}  {seconds * 1000:10.3f} ms   x{ratio:7.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    args = parser.parse_args()
    print(f"{'what':<8} {'size':>9}  {'median':>13}   {'ratio':>8}")
    row("stages", [1_000, 10_000, 20_000], stages, validate_definition, args.repeat)
    row("chain", [1_000, 10_000], chain, validate_definition, args.repeat)
    text = body_text()
    size = len(text.encode())
    seconds = median_seconds(
        lambda: validate_definition(json.loads(text)["definition"]), args.repeat
    )
    print(f"{'body':<8} {size:>9,}  {seconds * 1000:10.3f} ms   (bytes of the POST /flows body)")
    row("graph", [500, 1_000, 2_000], lambda n: chain(n, skip=True), render_svg, args.repeat)
    try:
        from fabflow.flows.definition import _content_errors  # behind the caps
    except ImportError:
        print("(this code has no caps: the rows above time all of its checks)")
        return
    print("* without the caps: the checks behind them, and the graph drawing every task")
    checks = lambda raw: _content_errors(raw, BUILTIN_PAYLOADS)  # noqa: E731
    row("stages*", [1_000, 10_000, 20_000], stages, checks, args.repeat)
    row("chain*", [1_000, 10_000, 20_000], chain, checks, args.repeat)
    graph.MAX_STAGE_TASKS = 10**9  # type: ignore[attr-defined]  # draw every task
    row("graph*", [500, 1_000, 2_000], lambda n: chain(n, skip=True), render_svg, args.repeat)


if __name__ == "__main__":
    main()
