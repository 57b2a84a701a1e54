"""Order bodies shared by bench/intake.py and bench/_service_baseline.py.

A realistic small order of a web shop: two configured products with two parts each, customer
data, a shipping address, tags and shop data; about 1.6 kB of JSON. Imports nothing from
Fabflow, so the load generator stays a plain HTTP client.
"""

from __future__ import annotations

from typing import Any

MATERIALS = ("PA12", "PLA", "resin-grey", "316L", "TPU-95A")
FINISHES = ("raw", "dyed-black", "polished", "vapor-smoothed")
COLORS = ("black", "white", "red", "blue", "natural")


def order_body(third_party_order_id: str, seq: int) -> dict[str, Any]:
    """A valid create-order body with 2 products x 2 parts, varied a little by `seq`."""
    material = MATERIALS[seq % len(MATERIALS)]
    products = []
    for i in range(2):
        products.append(
            {
                "name": f"Custom ring {i + 1}",
                "configurationId": f"cfg-{seq % 97}-{i}",
                "configuration": {
                    "size": 48 + (seq + i) % 20,
                    "material": material,
                    "finish": FINISHES[(seq + i) % len(FINISHES)],
                    "engraving": {"text": f"#{seq}", "font": "serif"},
                    "options": ["gift-box"] if i == 0 else [],
                },
                "units": 1 + (seq + i) % 3,
                "value": f"{39 + (seq + i) % 60}.{(seq * 7) % 100:02d}",
                "parts": [
                    {
                        "name": "band",
                        "data": {"material": material, "color": COLORS[seq % len(COLORS)]},
                        "manufacturingData": {
                            "volumeMm3": 812.5 + (seq % 50),
                            "boundingBoxMm": [22.1, 22.1, 3.5],
                            "printer": "sls-2",
                        },
                    },
                    {
                        "name": "stone setting",
                        "data": {"stone": "zirconia", "diameterMm": 4},
                        "manufacturingData": {"volumeMm3": 41.0, "supports": False},
                    },
                ],
            }
        )
    return {
        "thirdPartyOrderId": third_party_order_id,
        "name": f"Web order {third_party_order_id}",
        "customerEmail": f"customer{seq % 1000}@example.com",
        "customerInfo": {
            "name": f"Customer {seq % 1000}",
            "email": f"customer{seq % 1000}@example.com",
            "company": "Example GmbH" if seq % 3 == 0 else "",
        },
        "addresses": [
            {
                "addressType": "shipping",
                "data": {
                    "street": "Hauptstrasse 1",
                    "zip": "10115",
                    "city": "Berlin",
                    "country": "DE",
                },
            }
        ],
        "tags": ["web", "rush"] if seq % 5 == 0 else ["web"],
        "data": {"channel": "web", "cart": f"c-{seq}", "locale": "de-DE", "shipping": "standard"},
        "products": products,
    }
