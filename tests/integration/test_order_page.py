"""The order page: what other apps contribute, and the thumbnail it picks."""

from __future__ import annotations

import base64
from typing import Any

from django.test import Client

from fabflow.orders.models import Asset, Order
from tests.factories import ApiClient, order_body

PNG = base64.b64encode(bytes.fromhex("89504e470d0a1a0a") + b"\0" * 16).decode()
SVG = base64.b64encode(b"<svg xmlns='http://www.w3.org/2000/svg'/>").decode()


def test_the_thumbnail_is_an_image_the_browser_may_show_never_an_svg(
    api: ApiClient, client: Client, member: Any
) -> None:
    # given an order whose first image is an SVG, then a PNG
    body = order_body(
        assets=[
            {"name": "logo.svg", "contentType": "image/svg+xml", "contentBase64": SVG},
            {"name": "preview.png", "contentType": "image/png", "contentBase64": PNG},
        ]
    )
    assert api.post("/api/v1/orders", body).status_code == 201
    order = Order.objects.get()
    png = Asset.objects.get(name="preview.png")
    # when a member opens the order page
    client.force_login(member)
    page = client.get(f"/orders/{order.id}").content.decode()
    # then the preview shows the PNG
    assert f'class="thumb" src="/files/{png.id}"' in page


def test_the_flow_section_comes_from_the_flows_app(
    api: ApiClient, client: Client, member: Any
) -> None:
    # given an order without a flow
    assert api.post("/api/v1/orders", order_body()).status_code == 201
    order = Order.objects.get()
    # when a member opens its page, then the flows app's section says there is no flow
    client.force_login(member)
    page = client.get(f"/orders/{order.id}").content.decode()
    assert 'id="flow-h"' in page
    assert "No flow." in page
