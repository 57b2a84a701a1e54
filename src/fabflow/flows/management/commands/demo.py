"""fabflow demo: seed a demo organization (once) and print how to log in and call the API."""

from __future__ import annotations

import base64
import json
import secrets
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from fabflow.accounts.models import Organization
from fabflow.accounts.services import (
    create_organization,
    create_secret_key,
    create_space,
    create_user,
)
from fabflow.flows.services import create_flow
from fabflow.orders.schemas import OrderIn
from fabflow.orders.services import create_order

DEMO_FLOW = [
    {
        "key": "confirm",
        "name": "Order confirmation",
        "taskDefinitions": [
            {
                "key": "mail-customer",
                "handlerKey": "send-email",
                "payload": {
                    "recipients": ["{customerEmail}"],
                    "subject": "Your order {order.name}",
                    "body": "Dear {customerInfo.name},<br>we received order {order.name}.",
                },
                "next": [{"taskDefinitionKey": "send-files", "trigger": "success"}],
            },
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
                "payload": {
                    "title": "Check the print of {order.name}",
                    "outcomes": ["approve", "reject"],
                    "failureOutcomes": ["reject"],
                },
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
            {
                "key": "mail-shipped",
                "handlerKey": "send-email",
                "payload": {
                    "recipient": "{customerEmail}",
                    "subject": "Order {order.name} shipped",
                    "body": "Your order is on its way.",
                },
            },
        ],
    },
]


def demo_flow() -> list[dict[str, object]]:
    """The demo flow with the demo connector's address filled in."""
    text = json.dumps(DEMO_FLOW).replace(
        "{demoConnectorUrl}", f"{settings.BASE_URL}/demo/connector"
    )
    return json.loads(text)  # type: ignore[no-any-return]


DEMO_ORDERS = [
    ("WEB-1001", "Ann Peeters", "ann@example.com", ["vip"], 17, "silver", Decimal("49.50")),
    ("WEB-1002", "Bram Claes", "bram@example.com", [], 19, "gold", Decimal("189.00")),
    ("WEB-1003", "Chloe Martin", "chloe@example.com", ["rush"], 15, "steel", Decimal("29.90")),
]


# A 1x1 PNG and a one-facet ASCII STL, so the demo orders carry real files.
PREVIEW_PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGA"
    "WjR9awAAAABJRU5ErkJggg=="
)
BAND_STL = base64.b64encode(
    b"solid band\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 0\n"
    b"vertex 0 1 0\nendloop\nendfacet\nendsolid band\n"
).decode()


class Command(BaseCommand):
    help = "Seed a demo organization with a login, a secret key, a flow and a few orders."

    def handle(self, *args: object, **options: object) -> None:
        path = Path(settings.DATA_DIR) / "demo-credentials.json"
        if Organization.objects.exists():
            if path.exists():
                self._print(json.loads(path.read_text()))
            else:
                self.stdout.write("The database already has data; no demo seeded.")
            return
        with transaction.atomic():
            credentials = self._seed()
        path.touch(mode=0o600)
        path.write_text(json.dumps(credentials))
        self._print(credentials)

    def _seed(self) -> dict[str, str]:
        org = create_organization(name="Demo Manufacturing")
        password = secrets.token_urlsafe(12)
        admin = create_user(
            organization=org, email="admin@example.com", password=password, admin=True, tags=["vip"]
        )
        # The demo admin may also use the Django admin (/admin/); real org admins may not.
        admin.is_staff = admin.is_superuser = True
        admin.save(update_fields=["is_staff", "is_superuser"])
        space = create_space(organization=org, key="demo-rings", name="Demo rings")
        _key, plain = create_secret_key(space=space, name="demo shop")
        create_flow(space=space, name="standard-flow", definition=demo_flow(), actor="demo")
        for number, name, email, tags, size, material, value in DEMO_ORDERS:
            payload = OrderIn.model_validate(
                {
                    "thirdPartyOrderId": number,
                    "flowKey": "standard-flow",
                    "customerEmail": email,
                    "tags": tags,
                    "customerInfo": {"name": name, "email": email},
                    "products": [
                        {
                            "name": "Comfort ring",
                            "configurationId": f"cfg-{size}",
                            "configuration": {"size": size, "material": material},
                            "units": 1,
                            "value": str(value),
                            "assets": [{"name": "preview.png", "contentBase64": PREVIEW_PNG}],
                            "parts": [
                                {
                                    "name": "band",
                                    "data": {"material": material},
                                    "assets": [{"name": "band.stl", "contentBase64": BAND_STL}],
                                }
                            ],
                        }
                    ],
                }
            )
            create_order(space=space, payload=payload, actor="demo")
        return {
            "email": "admin@example.com",
            "password": password,
            "secretKey": plain,
            "spaceKey": space.key,
        }

    def _print(self, c: dict[str, str]) -> None:
        base = settings.BASE_URL
        self.stdout.write(
            "\nDemo organization 'Demo Manufacturing'\n"
            f"  login:      {c['email']} / {c['password']}  ({base}/login)\n"
            f"  secret key: {c['secretKey']}  (space {c['spaceKey']})\n"
            f"  API docs:   {base}/api/docs\n"
            f"  try:        curl -H 'Authorization: Bearer {c['secretKey']}' {base}/api/v1/orders\n"
        )
