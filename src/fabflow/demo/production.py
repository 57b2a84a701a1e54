"""The demo's production chain: a parametric ring and `ring-flow`, generate -> slice -> a person
checks the print. Its orders get a real STL, preview, G-code and print time within seconds."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from django.conf import settings

from fabflow.accounts.models import Space
from fabflow.flows.services import create_flow
from fabflow.orders.schemas import OrderIn
from fabflow.production.services import create_model

RING_SOURCE = Path(__file__).with_name("ring.scad")
RING_FLOW: list[dict[str, Any]] = [
    {
        "key": "production",
        "name": "Production files",
        "taskDefinitions": [
            {
                "key": "generate",
                "handlerKey": "generate-production-files",
                # One file per part: the band's STL, preview and mesh checks land on the part.
                "payload": {"model": "ring", "target": "part", "filter": "^band$"},
                "timeoutDuration": 600000,
                "next": [{"taskDefinitionKey": "slice", "trigger": "success"}],
            },
            {
                "key": "slice",
                "handlerKey": "slice",
                "payload": {"profile": "creality_ender3", "material": "PLA"},
                "timeoutDuration": 600000,
                "next": [{"taskDefinitionKey": "check-print", "trigger": "success"}],
            },
            {
                "key": "check-print",
                "handlerKey": "manual-task",
                "payload": {
                    "title": "Check the ring of {order.name}",
                    "description": "Compare the print with the preview and the mesh checks.",
                    "assigneeTags": ["quality"],
                    "outcomes": ["approve", "reject"],
                    "failureOutcomes": ["reject"],
                },
                "timeoutDuration": 86400000,
            },
        ],
    },
]
# The ring orders' configurations (EU size, band width, groove depth): the last repeats the
# second, so its render comes from the cache.
RINGS = [(52, 3.0, 0.4), (56, 4.0, 0.6), (60, 5.0, 0.0), (56, 4.0, 0.6)]
APPROVED = 2  # the first two pass the check (Success); the others wait for a person


def programs_missing() -> list[str]:
    """The production programs this machine lacks (scripts/system-packages installs them)."""
    found = {"openscad": shutil.which("openscad"), "CuraEngine": shutil.which("CuraEngine")}
    return [name for name, path in found.items() if not path]


def seed_ring(space: Space, *, actor: str = "demo") -> None:
    """The `ring` model (OpenSCAD: size, width, engravingDepth) and `ring-flow`."""
    create_model(
        space=space, name="ring", kind="openscad", source=RING_SOURCE.read_text(), actor=actor
    )
    create_flow(space=space, name="ring-flow", definition=RING_FLOW, actor=actor)


def ring_orders(first: int) -> list[OrderIn]:
    """The intake requests of the demo's ring orders, numbered from `first`."""
    requests = []
    for i, (size, width, depth) in enumerate(RINGS):
        number = first + i
        requests.append(
            OrderIn.model_validate(
                {
                    "thirdPartyOrderId": f"RING-{number}",
                    "flowKey": "ring-flow",
                    "customerEmail": f"ring{number}@example.com",
                    "customerInfo": {"name": f"Ring customer {number}"},
                    "addresses": [
                        {
                            "addressType": "shipping",
                            "data": {
                                "name": f"Ring customer {number}",
                                "line1": "Hauptstraße 1",
                                "city": "Berlin",
                                "postcode": "10115",
                                "country": "DE",
                            },
                        }
                    ],
                    "products": [
                        {
                            "name": "Ring",
                            "configurationId": f"ring-{size}-{width}-{depth}",
                            "configuration": {
                                "size": size,
                                "width": width,
                                "engravingDepth": depth,
                                "material": "PLA",
                            },
                            "units": 1,
                            "value": "39.00",
                            "parts": [{"name": "band"}],
                        }
                    ],
                }
            )
        )
    return requests


def describe() -> str:
    """What the demo's ring orders show, or why there are none."""
    missing = programs_missing()
    if missing:
        return (
            f"  ring-flow:  no ring orders: {', '.join(missing)} not installed "
            "(sh scripts/system-packages says how)\n"
        )
    shown = "STL, preview, G-code, print time"
    return f"  ring-flow:  {len(RINGS)} ring orders with {shown} ({settings.BASE_URL}/parts)\n"
