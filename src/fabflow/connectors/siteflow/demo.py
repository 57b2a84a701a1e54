"""A Site Flow stand-in inside Fabflow for the demo (FABFLOW_DEMO_CONNECTOR=true, as `make run`).

Under /demo/siteflow/ it checks the HMAC signature of each call against the demo's hp-siteflow
connections, validates and accepts orders, and a job then fetches each component's link (as
Site Flow does with `fetch: true`) and posts `printready`, then `shipped` (or `error` when a
file could not be fetched) to the order's postbackAddress, through the outbound policy.
"""

from __future__ import annotations

import hmac
import json
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django_tasks import task

from fabflow.connectors.models import Connection, ConnectionKind
from fabflow.connectors.siteflow.client import sign
from fabflow.core import outbound

PREFIX = "/demo/siteflow"
SOURCE_ACCOUNT = "fabflow-demo"


def demo_base_url() -> str:
    return settings.BASE_URL + PREFIX


def _authentic(request: HttpRequest) -> bool:
    """Recompute the signature from the request, as Site Flow does."""
    key, _, _signature = request.headers.get("x-hp-hmac-authentication", "").partition(":")
    date = request.headers.get("x-hp-hmac-date", "")
    algorithm = request.headers.get("x-hp-hmac-algorithm", "SHA1").upper()
    if algorithm not in ("SHA1", "SHA256") or not key:
        return False
    sent = request.headers.get("x-hp-hmac-authentication", "")
    rows = Connection.objects.filter(kind=ConnectionKind.HP_SITEFLOW, base_url=demo_base_url())
    for row in rows:
        credentials = row.credentials or {}
        if credentials.get("key") != key or not credentials.get("secret"):
            continue
        expected = sign(
            request.method or "", request.path, credentials["secret"], key, date, algorithm
        )
        if hmac.compare_digest(expected, sent):
            return True
    return False


def _problems(document: Any) -> list[dict[str, str]]:
    data = document.get("orderData") if isinstance(document, dict) else None
    if not isinstance(data, dict):
        return [{"path": "orderData", "message": "is required"}]
    found = []
    if not (document.get("destination") or {}).get("name"):
        found.append({"path": "destination.name", "message": "is required"})
    for name in ("sourceOrderId", "items", "shipments"):
        if not data.get(name):
            found.append({"path": f"orderData.{name}", "message": "is required"})
    return found


@csrf_exempt
def siteflow_api(request: HttpRequest, path: str) -> HttpResponse:
    if not settings.FABFLOW_DEMO_CONNECTOR:
        return JsonResponse({"error": {"message": "the demo Site Flow is off"}}, status=404)
    if not _authentic(request):
        return JsonResponse({"error": {"message": "Invalid HMAC signature"}}, status=401)
    if request.method == "GET" and path == "api/order":
        return JsonResponse({"data": [], "count": 0})  # the demo keeps no order list
    if request.method == "PUT" and path.startswith("api/order/") and path.endswith("/cancel"):
        return JsonResponse({"success": True})
    if request.method != "POST" or path not in ("api/order", "api/order/validate"):
        return JsonResponse({"error": {"message": f"Cannot {request.method} {path}"}}, status=404)
    try:
        document = json.loads(request.body)
    except ValueError:
        return JsonResponse({"error": {"message": "the body is not JSON"}}, status=400)
    problems = _problems(document)
    if problems:
        error = {"message": "Order is invalid", "validations": problems}
        return JsonResponse({"error": error}, status=400)
    if path == "api/order/validate":
        return JsonResponse({"success": True, "valid": True})
    order_id = uuid.uuid4().hex[:24]
    data = document["orderData"]
    delay = timedelta(seconds=settings.FABFLOW_DEMO_CONNECTOR_DELAY)
    produce.using(run_after=timezone.now() + delay).enqueue(order_id, data)
    order = {
        "_id": order_id,
        "destination": document["destination"],
        "source": {"name": SOURCE_ACCOUNT},
        "orderData": {**data, "status": "received"},
    }
    return JsonResponse({"order": order, "success": True}, status=201)


@task()
def produce(order_id: str, data: dict[str, Any]) -> list[int]:
    """Fetch the components, then report printready and shipped (or error) by postback."""
    policy = outbound.OutboundPolicy.from_strings(settings.OUTBOUND_ALLOWLIST)
    missing = []
    for item in data.get("items") or []:
        for component in item.get("components") or []:
            try:
                fetched = outbound.request(policy, "GET", component["path"]).status
            except outbound.OutboundError as exc:
                missing.append(f"{component['path']}: {exc}")
                continue
            if fetched != 200:
                missing.append(f"{component['path']}: HTTP {fetched}")
    statuses = ["error"] if missing else ["printready", "shipped"]
    answers = []
    for status in statuses:
        body = {"_id": order_id, "sourceOrderId": data["sourceOrderId"], "status": status}
        if missing:
            body["message"] = "could not fetch " + "; ".join(missing)
        response = outbound.request(
            policy,
            "POST",
            data["postbackAddress"],
            body=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        answers.append(response.status)
    return answers


def demo_flow(connection: str) -> list[dict[str, Any]]:
    """The demo's Site Flow variant: send the order's STL files, wait until it is shipped."""
    submit = {
        "key": "siteflow",
        "handlerKey": "siteflow-submit",
        "payload": {
            "connection": connection,
            "destination": "demo-print-partner",
            "filter": "\\.stl$",
            "carrier": {"code": "ups", "service": "standard"},
        },
        "timeoutDuration": 600000,
        "next": [],
    }
    return [{"key": "production", "name": "Production at Site Flow", "taskDefinitions": [submit]}]


def seed_demo(space: Any, *, actor: str = "demo") -> Connection:
    """The demo space's hp-siteflow connection to the stand-in, and the `siteflow-flow`."""
    from fabflow.flows.services import create_flow

    found = Connection.objects.create(
        organization_id=space.organization_id,
        space=space,
        name="siteflow-demo",
        kind=ConnectionKind.HP_SITEFLOW,
        base_url=demo_base_url(),
        credentials={"key": "demo-key", "secret": uuid.uuid4().hex},
    )
    create_flow(space=space, name="siteflow-flow", definition=demo_flow(found.name), actor=actor)
    return found
