"""A demo connector inside Fabflow: accepts `consume-rest-api` calls and posts feedback back.

Enabled with FABFLOW_DEMO_CONNECTOR=true (as `make run` does). It verifies the Standard
Webhooks signature like a real partner would, answers 202, and a job posts `success`
feedback to the task's feedbackUrl a few seconds later, through the outbound policy.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from django_tasks import task
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from fabflow.core import outbound
from fabflow.orders.models import Order


@csrf_exempt
@require_POST
def connector(request: HttpRequest) -> HttpResponse:
    if not settings.FABFLOW_DEMO_CONNECTOR:
        return JsonResponse({"error": "the demo connector is off"}, status=404)
    try:
        body = json.loads(request.body)
        order = Order.objects.select_related("space").get(pk=body["order"]["id"])
        Webhook(order.space.signing_secret).verify(request.body, dict(request.headers))
    except (ValueError, KeyError, TypeError, Order.DoesNotExist, WebhookVerificationError):
        return JsonResponse({"error": "bad or unsigned request"}, status=400)
    parts = {
        part["id"]: {"printTimeS": 1161, "filamentG": 4.2}
        for product in body["order"].get("products", [])
        for part in product["parts"]
    }
    delay = timedelta(seconds=settings.FABFLOW_DEMO_CONNECTOR_DELAY)
    post_feedback.using(run_after=timezone.now() + delay).enqueue(body["feedbackUrl"], parts)
    return JsonResponse({"accepted": True}, status=202)


@task()
def post_feedback(feedback_url: str, manufacturing_data: dict[str, Any]) -> int:
    payload = {
        "status": "success",
        "message": "Printed by the demo connector",
        "manufacturingData": manufacturing_data,
    }
    policy = outbound.OutboundPolicy.from_strings(settings.OUTBOUND_ALLOWLIST)
    response = outbound.request(
        policy,
        "POST",
        feedback_url,
        body=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
    )
    return response.status
