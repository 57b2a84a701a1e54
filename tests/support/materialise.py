"""A fake i.materialise web API on 127.0.0.1: the tool id in the upload path, the `ApiCode`
header on the priced and ordering calls, the multipart `data` blob of the cart APIs, request
shapes checked, and an order status that moves on with each poll."""

from __future__ import annotations

import json
import re
from typing import Any

from werkzeug import Request, Response

from tests.support.fakes import FakePartner, Received, exact_keys, recorded

PARTNER = "materialise"
MATERIAL = "035f4772-da8a-400b-8be4-2dd344b28ddb"
FINISH = "bba2bebb-8895-4049-aeb0-ab651cee2597"
UNIT_PRICE = 12.5
ITEM_KEYS = {
    "toolID",
    "MyCartItemReference",
    "modelID",
    "modelFileName",
    "fileUnits",
    "fileScaleFactor",
    "materialID",
    "finishID",
    "quantity",
    "xDimMm",
    "yDimMm",
    "zDimMm",
    "volumeCm3",
    "surfaceCm2",
    "iMatAPIPrice",
    "mySalesPrice",
}
ADDRESS_KEYS = {
    "FirstName",
    "LastName",
    "Email",
    "Phone",
    "Company",
    "Line1",
    "Line2",
    "CountryCode",
    "StateCode",
    "ZipCode",
    "City",
}
CART_KEYS = {
    "MyCartReference",
    "Currency",
    "LanguageCode",
    "ReturnUrl",
    "OrderConfirmationUrl",
    "FailureUrl",
    "PromoCode",
    "CartItems",
    "ShippingInfo",
    "BillingInfo",
}
CHECKOUT_KEYS = {
    "cartID",
    "myOrderReference",
    "directMailingAllowed",
    "shipmentService",
    "remarks",
    "languageCode",
}


class FakeMaterialise(FakePartner):
    def __init__(self, *, tool_id: str = "tool-0f1e2d3c", api_code: str = "code-9a8b7c6d") -> None:
        super().__init__()
        self.tool_id = tool_id
        self.api_code = api_code
        self.materials = {MATERIAL: {FINISH}}
        self.statuses = ["Ordered", "InProduction", "Shipped"]
        self.models: dict[str, tuple[str, bytes]] = {}
        self.items: dict[str, dict[str, Any]] = {}
        self.carts: dict[str, dict[str, Any]] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.polls: dict[str, int] = {}

    def route(self, request: Request, got: Received) -> Response:
        upload = re.fullmatch(r"/web-api/tool/([^/]+)/model", got.path)
        if upload and got.method == "POST":
            return self._upload(got, upload.group(1))
        if got.headers.get("Apicode") != self.api_code:
            return self.answer(401, recorded(PARTNER, "error-api-code.answer.json"))
        routes = {
            ("POST", "/web-api/pricing/model"): self._pricing,
            ("POST", "/web-api/cartitems/register"): self._cart_items,
            ("POST", "/web-api/cart/post"): self._cart,
            ("POST", "/web-api/order/post"): self._checkout,
            ("POST", "/web-api/order"): self._status,
            ("GET", "/web-api/orders"): self._statistics,
        }
        handle = routes.get((got.method, got.path))
        if handle is None:
            return self.answer(404, {"error": "Not found"})
        return handle(got)

    def _blob(self, got: Received) -> Any:
        """The JSON of the multipart part `data` (a file named `blob`), or None."""
        part = got.files.get("data")
        if part is None or part[0] != "blob" or part[1] != "application/json":
            return None
        return json.loads(part[2])

    # -- models and prices --
    def _upload(self, got: Received, tool_id: str) -> Response:
        if tool_id != self.tool_id:
            return self.answer(403, recorded(PARTNER, "error-tool-id.answer.json"))
        if set(got.files) != {"file"} or set(got.form) != {"fileUnits"}:
            return self.violation(f"upload fields {sorted(got.files)} {sorted(got.form)}")
        model_id = f"model-{len(self.models) + 1}"
        self.models[model_id] = (got.files["file"][0], got.files["file"][2])
        doc = recorded(PARTNER, "upload.answer.json")
        return self.answer(200, {**doc, "modelID": model_id, "fileUnits": got.form["fileUnits"]})

    def _pricing(self, got: Received) -> Response:
        problem = exact_keys(got.json, {"models", "currency"})
        if problem:
            return self.violation(f"pricing: {problem}")
        priced = []
        for model in got.json["models"]:
            keys = {"modelID", "materialID", "finishID", "quantity", "scale"}
            problem = exact_keys(model, keys)
            if problem:
                return self.violation(f"pricing model: {problem}")
            if model["finishID"] not in self.materials.get(model["materialID"], set()):
                return self.answer(400, recorded(PARTNER, "error-material.answer.json"))
            if model["modelID"] not in self.models:
                return self.answer(400, {"error": f"Unknown model {model['modelID']}"})
            priced.append({**model, "totalPrice": UNIT_PRICE * model["quantity"]})
        answer = recorded(PARTNER, "pricing.answer.json")
        return self.answer(200, {**answer, "models": priced, "currency": got.json["currency"]})

    # -- the cart and the order --
    def _cart_items(self, got: Received) -> Response:
        document = self._blob(got)
        problem = exact_keys(document, {"cartItems", "currency"})
        if problem:
            return self.violation(f"cart items: the `data` blob: {problem}")
        made = []
        for item in document["cartItems"]:
            problem = exact_keys(item, ITEM_KEYS)
            if problem:
                return self.violation(f"cart item: {problem}")
            if item["toolID"] != self.tool_id:
                return self.answer(403, recorded(PARTNER, "error-tool-id.answer.json"))
            item_id = f"item-{len(self.items) + 1}"
            self.items[item_id] = item
            made.append({"cartItemID": item_id, "MyCartItemReference": item["MyCartItemReference"]})
        return self.answer(200, {"cartItems": made, "currency": document["currency"]})

    def _cart(self, got: Received) -> Response:
        problem = exact_keys(got.json, CART_KEYS)
        problem = problem or exact_keys(got.json["ShippingInfo"], ADDRESS_KEYS)
        problem = problem or exact_keys(got.json["BillingInfo"], ADDRESS_KEYS | {"VatNumber"})
        if problem:
            return self.violation(f"cart: {problem}")
        unknown = [
            i["CartItemID"] for i in got.json["CartItems"] if i["CartItemID"] not in self.items
        ]
        if unknown:
            return self.answer(400, {"error": f"Unknown cart items: {', '.join(unknown)}"})
        if not got.json["ShippingInfo"]["CountryCode"]:
            return self.answer(400, {"error": "ShippingInfo.CountryCode is required."})
        cart_id = f"cart-{len(self.carts) + 1}"
        self.carts[cart_id] = got.json
        return self.answer(200, {**recorded(PARTNER, "cart.answer.json"), "cartID": cart_id})

    def _checkout(self, got: Received) -> Response:
        document = self._blob(got)
        problem = exact_keys(document, CHECKOUT_KEYS)
        if problem:
            return self.violation(f"checkout: the `data` blob: {problem}")
        if document["cartID"] not in self.carts:
            return self.answer(400, {"error": f"Unknown cart {document['cartID']}"})
        number = len(self.orders) + 1
        self.orders[f"IM-{number:05d}"] = document
        answer = recorded(PARTNER, "checkout.answer.json")
        return self.answer(
            200, {**answer, "orderID": f"order-{number}", "orderNumber": f"IM-{number:05d}"}
        )

    def _status(self, got: Received) -> Response:
        problem = exact_keys(got.json, {"orderNumber"})
        if problem:
            return self.violation(f"order status: {problem}")
        number = got.json["orderNumber"]
        if number not in self.orders:
            return self.answer(404, {"error": f"Order {number} not found"})
        seen = self.polls.get(number, 0)
        self.polls[number] = seen + 1
        status = self.statuses[min(seen, len(self.statuses) - 1)]
        answer = recorded(PARTNER, "order-status.answer.json")
        return self.answer(200, {**answer, "orderNumber": number, "status": status})

    def _statistics(self, got: Received) -> Response:
        dates = re.compile(r"\d{2}-\d{2}-\d{4}")
        if not all(dates.fullmatch(got.query.get(k, "")) for k in ("dateFrom", "dateTo")):
            return self.violation(f"orders: dateFrom/dateTo DD-MM-YYYY, got {got.query}")
        return self.answer(200, recorded(PARTNER, "orders.answer.json"))
