"""fabflow demo: seed a demo organization (once) and print how to log in and call the API.

Its sixty orders go through intake and the flow engine, run here until they rest: a dozen each
Created (no flow yet), In progress (a check waiting for a person), Success, Failure (the check
rejected) and Unhealthy (an express check past its timeout). When openscad and CuraEngine are
installed, four ring orders go through `ring-flow`: rendered, sliced, two of them checked."""

from __future__ import annotations

import base64
import json
import random
import secrets
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from fabflow.accounts.models import Organization, Space
from fabflow.accounts.services import (
    create_organization,
    create_secret_key,
    create_space,
    create_user,
)
from fabflow.connectors.siteflow.demo import seed_demo as seed_siteflow_demo
from fabflow.demo import production
from fabflow.flows import actions
from fabflow.flows.engine.loop import drain
from fabflow.flows.models import TaskRun
from fabflow.flows.services import create_flow
from fabflow.orders.management.commands.seed import Generator
from fabflow.orders.models import Order, Part, Product
from fabflow.orders.schemas import OrderIn
from fabflow.orders.services import create_order

EMAIL, TAGS = "admin@example.com", ["quality"]  # the demo login; manual tasks are for its tags
CHECK = {
    "title": "Check the print of {order.name}",
    "description": "Compare the parts of {order.name} with the preview; reject what is off.",
    "assigneeTags": TAGS,
    "outcomes": ["approve", "reject"],
    "failureOutcomes": ["reject"],
}
CONFIRM = {
    "key": "mail-customer",
    "handlerKey": "send-email",
    "payload": {
        "recipients": ["{customerEmail}"],
        "subject": "Your order {order.name}",
        "body": "Dear {customerInfo.name},<br>we received order {order.name}.",
    },
}
SHIPPED = {
    "key": "mail-shipped",
    "handlerKey": "send-email",
    "payload": {
        "recipient": "{customerEmail}",
        "subject": "Order {order.name} shipped",
        "body": "Your order is on its way.",
    },
}
DEMO_FLOW = [
    {
        "key": "confirm",
        "name": "Order confirmation",
        "taskDefinitions": [
            {**CONFIRM, "next": [{"taskDefinitionKey": "send-files", "trigger": "success"}]},
            {
                "key": "send-files",
                "handlerKey": "asset-email",
                "payload": {
                    "filter": "\\.(stl|png)$",
                    "recipients": ["{customerEmail}"],
                    "subject": "Files of order {order.name}",
                    "body": "Your files:<br>{assetOverview}",
                    "needConfirmation": False,
                },
                "next": [],
            },
        ],
    },
    {
        "key": "production",
        "name": "Production",
        "taskDefinitions": [
            {
                "key": "print",
                "handlerKey": "consume-rest-api",
                "payload": {"uri": "{demoConnectorUrl}", "sendsFeedback": True},
                "timeoutDuration": 600000,
                "next": [{"taskDefinitionKey": "check-print", "trigger": "success"}],
            },
            {
                "key": "check-print",
                "handlerKey": "manual-task",
                "payload": CHECK,
                "timeoutDuration": 86400000,
                "next": [],
            },
        ],
    },
    {
        "key": "shipping",
        "name": "Shipping",
        "taskDefinitions": [
            {
                "key": "cool-down",
                "handlerKey": "wait",
                "payload": {"durationMs": 5000},
                "next": [{"taskDefinitionKey": "mail-shipped", "trigger": "success"}],
            },
            SHIPPED,
        ],
    },
]


def demo_flow() -> list[dict[str, object]]:
    """The demo flow with the demo connector's address filled in."""
    text = json.dumps(DEMO_FLOW).replace(
        "{demoConnectorUrl}", f"{settings.BASE_URL}/demo/connector"
    )
    return json.loads(text)  # type: ignore[no-any-return]


# A 1x1 PNG and a one-facet ASCII STL, so the demo orders carry real files.
PREVIEW_PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGA"
    "WjR9awAAAABJRU5ErkJggg=="
)
BAND_STL = base64.b64encode(
    b"solid band\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 0\n"
    b"vertex 0 1 0\nendloop\nendfacet\nendsolid band\n"
).decode()


def check_flow(timeout_ms: int) -> list[dict[str, object]]:
    """A confirmation, a manual check that times out after `timeout_ms`, a shipping mail: runs
    here and now, unlike `standard-flow`, whose connector answers only once the server runs."""
    return [
        {"key": "confirm", "name": "Order confirmation", "taskDefinitions": [CONFIRM]},
        {
            "key": "production",
            "name": "Quality check",
            "taskDefinitions": [
                {
                    "key": "check-print",
                    "handlerKey": "manual-task",
                    "payload": CHECK,
                    "timeoutDuration": timeout_ms,
                }
            ],
        },
        {"key": "shipping", "name": "Shipping", "taskDefinitions": [SHIPPED]},
    ]


# What becomes of each demo order, by flow and the outcome of its check (None: left waiting).
PLANS: list[tuple[str | None, str | None]] = [
    ("express-flow", None),  # Unhealthy: its 1 s check timed out
    ("studio-flow", "approve"),  # Success
    ("studio-flow", None),  # In progress: waiting for a person
    ("studio-flow", "reject"),  # Failure
    (None, None),  # Created: no flow yet
]
PER_STATUS = 12
SITEFLOW_ORDERS = 3  # with FABFLOW_DEMO_CONNECTOR (make run): sent to the Site Flow stand-in
EXPRESS_TIMEOUT_MS = 1000


def payload(order: Order, products: list[Product], parts: list[Part], **extra: Any) -> OrderIn:
    """The intake request of an order drawn by `fabflow seed`'s generator, with demo files."""
    return OrderIn.model_validate(
        {
            "thirdPartyOrderId": order.third_party_order_id,
            "customerEmail": order.customer_email,
            "customerInfo": order.customer_info,
            "addresses": order.addresses,
            "data": order.data,
            **extra,
            "products": [
                {
                    "name": p.name,
                    "configurationId": p.configuration_id,
                    "configuration": p.configuration,
                    "units": p.units,
                    "value": str(p.unit_value),
                    "assets": [{"name": "preview.png", "contentBase64": PREVIEW_PNG}],
                    "parts": [
                        {
                            "name": part.name,
                            "data": part.data,
                            "manufacturingData": part.manufacturing_data,
                            "assets": [{"name": f"{part.name}.stl", "contentBase64": BAND_STL}],
                        }
                        for part in parts
                        if part.product_id == p.id
                    ],
                }
                for p in products
                if p.order_id == order.id
            ],
        }
    )


class Command(BaseCommand):
    help = "Seed a demo organization with a login, a secret key, flows and sixty orders."

    def handle(self, *args: object, **options: object) -> None:
        path = Path(settings.DATA_DIR) / "demo-credentials.json"
        if Organization.objects.exists():
            if path.exists():
                self._print(json.loads(path.read_text()))
            else:
                self.stdout.write("The database already has data; no demo seeded.")
            return
        with transaction.atomic():
            space, credentials = self._organization()
        path.touch(mode=0o600)
        path.write_text(json.dumps(credentials))
        self._orders(space)
        self._print(credentials)

    def _organization(self) -> tuple[Space, dict[str, str]]:
        org = create_organization(name="Demo Manufacturing")
        password = secrets.token_urlsafe(12)
        admin = create_user(organization=org, email=EMAIL, password=password, admin=True, tags=TAGS)
        # The demo admin may also use the Django admin (/admin/); real org admins may not.
        admin.is_staff = admin.is_superuser = True
        admin.save(update_fields=["is_staff", "is_superuser"])
        space = create_space(organization=org, key="demo-rings", name="Demo rings")
        _key, plain = create_secret_key(space=space, name="demo shop")
        create_flow(space=space, name="standard-flow", definition=demo_flow(), actor="demo")
        create_flow(space=space, name="studio-flow", definition=check_flow(86400000), actor="demo")
        express = check_flow(EXPRESS_TIMEOUT_MS)
        create_flow(space=space, name="express-flow", definition=express, actor="demo")
        seed_siteflow_demo(space)  # the Site Flow variant: a connection and `siteflow-flow`
        production.seed_ring(space)  # the ring model and `ring-flow`
        credentials = {"email": EMAIL, "password": password, "secretKey": plain}
        return space, {**credentials, "spaceKey": space.key}

    def _orders(self, space: Space) -> None:
        """Take the orders in through intake and run the engine here until they rest."""
        total = PER_STATUS * len(PLANS)
        generator = Generator(space, seed=1, start=1001, total=total)
        orders, products, parts, _events = generator.batch(0, total)
        rng, now = random.Random(1), timezone.now()
        outcomes: dict[str, str] = {}
        for index, order in enumerate(orders):
            flow, outcome = PLANS[index % len(PLANS)]
            deadline = now + timedelta(days=rng.randint(-2, 21), hours=rng.randint(0, 8))
            tags = order.tags or [["rush"], ["vip"], ["gift"], []][index % 4]
            request = payload(order, products, parts, flowKey=flow, deadline=deadline, tags=tags)
            created = create_order(space=space, payload=request, actor="demo")
            if outcome:
                outcomes[str(created.pk)] = outcome
        if not production.programs_missing():
            # Rendered and sliced by the engine below: a few seconds.
            for i, request in enumerate(production.ring_orders(first=2001)):
                created = create_order(space=space, payload=request, actor="demo")
                if i < production.APPROVED:
                    outcomes[str(created.pk)] = "approve"
        if settings.FABFLOW_DEMO_CONNECTOR:
            self._siteflow_orders(space, now)
        drain(50)
        for run in TaskRun.objects.filter(order_id__in=outcomes, key="check-print"):
            outcome = outcomes[str(run.order_id)]
            comment = "Layer lines on the band" if outcome == "reject" else ""
            actions.complete_task(run=run, outcome=outcome, comment=comment, actor=f"user:{EMAIL}")
        # Until the express checks' timeouts have passed and the engine marked them (their
        # orders Unhealthy): a second or so.
        express = TaskRun.objects.filter(order__flow_key="express-flow", key="check-print")
        express = express.filter(timed_out=False)
        give_up = time.monotonic() + 30
        while drain(50) or (express.exists() and time.monotonic() < give_up):
            time.sleep(0.1)

    def _siteflow_orders(self, space: Space, now: Any) -> None:
        """Orders handed to the Site Flow stand-in, which the web server serves: until
        `make run` has started it their submit is retried; then its postbacks ship them."""
        generator = Generator(space, seed=2, start=3001, total=SITEFLOW_ORDERS)
        orders, products, parts, _events = generator.batch(0, SITEFLOW_ORDERS)
        for order in orders:
            deadline = now + timedelta(days=7)
            request = payload(order, products, parts, flowKey="siteflow-flow", deadline=deadline)
            create_order(space=space, payload=request, actor="demo")

    def _print(self, c: dict[str, str]) -> None:
        base = settings.BASE_URL
        self.stdout.write(
            "\nDemo organization 'Demo Manufacturing'\n"
            f"  login:      {c['email']} / {c['password']}  ({base}/login)\n"
            f"  secret key: {c['secretKey']}  (space {c['spaceKey']})\n"
            f"  API docs:   {base}/api/docs\n"
            f"{production.describe()}"
            f"  try:        curl -H 'Authorization: Bearer {c['secretKey']}' {base}/api/v1/orders\n"
        )
