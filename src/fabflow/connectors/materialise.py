"""Materialise (`materialise-order`): the order's models uploaded, priced, put in a cart that is
checked out with the order's shipping address, and the order polled until it ships or is
cancelled (docs/connectors/materialise.md).

As for 3YOURMIND, each partner id (model, cart item, cart, order) is saved in the task run's
progress right after the call that made it, and looked for before that call, so a poll, a
retry or a restart after a crash goes on from there instead of ordering twice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any, Literal

from django.utils import timezone
from pydantic import Field, StringConstraints

from fabflow.connectors import calls, testing
from fabflow.connectors.models import Connection, ConnectionKind
from fabflow.connectors.services import connection_for
from fabflow.flows.handlers import registry
from fabflow.flows.handlers.base import (
    AssetRef,
    Failed,
    Handler,
    HandlerContext,
    Outcome,
    PermanentError,
    Succeeded,
    Waiting,
)
from fabflow.flows.handlers.payloads import Name, PayloadModel, Regex, TemplateKind, template

KIND = ConnectionKind.MATERIALISE
PARTNER = "Materialise"
Status = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Code = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2,3}$")]
MODEL_FACTS = ("modelID", "xDimMm", "yDimMm", "zDimMm", "volumeCm3", "surfaceCm2")


class MaterialisePayload(PayloadModel):
    """`materialise-order`: the connection, the material and finish, shipping and polling."""

    connection: Name
    materialId: Name
    finishId: Name
    filter: Regex = r"\.stl$"
    fileUnits: Literal["mm", "inch"] = "mm"
    currency: Code = "EUR"
    languageCode: Code = "en"
    shipmentService: Name = "Express"
    remarks: Annotated[str, StringConstraints(max_length=2000)] = template(TemplateKind.TEXT, "")
    successStatuses: list[Status] = Field(
        default_factory=lambda: ["shipped", "delivered"], min_length=1, max_length=50
    )
    failureStatuses: list[Status] = Field(
        default_factory=lambda: ["cancelled", "invalid"], max_length=50
    )
    pollSeconds: int = Field(default=600, ge=1, le=7 * 86400)


def probe_connection(connection: Connection) -> testing.TestResult:
    """A harmless authenticated read: today's orders from the Order Statistics API."""
    code = calls.credential(connection, "apiCode")
    today = timezone.now().strftime("%d-%m-%Y")
    url = calls.endpoint(connection.base_url, f"web-api/orders?dateFrom={today}&dateTo={today}")
    return testing.TestResult(*calls.probe(PARTNER, url, {"ApiCode": code}))


class MaterialiseOrder(Handler):
    key = "materialise-order"
    payload_model = MaterialisePayload
    title = "Order from Materialise"

    def run(self, ctx: HandlerContext) -> Outcome:
        payload = ctx.payload
        if not isinstance(payload, MaterialisePayload):
            raise TypeError("expected a MaterialisePayload")
        return calls.run_session(ctx, lambda: _Cart(ctx, payload))


class _Cart(calls.Session):
    """One call's work on the order's Materialise cart, from the earlier calls' progress."""

    def __init__(self, ctx: HandlerContext, payload: MaterialisePayload) -> None:
        super().__init__(ctx)
        found = connection_for(str(ctx.order["spaceKey"]), payload.connection, KIND)
        self.base_url = found.base_url
        self.tool_id = calls.credential(found, "toolId")
        self.api_code = calls.credential(found, "apiCode")
        self.payload = payload

    def advance(self) -> Outcome:
        if "orderNumber" not in self.progress:
            shipping = shipping_info(self.ctx.order)
            if isinstance(shipping, Failed):
                return shipping
            if "prices" not in self.progress:
                # Until priced, the models follow the order's matching assets; from then on
                # the uploaded ones are the order (an asset added later is not ordered).
                assets = self.ctx.services.assets(self.payload.filter)
                if not assets:
                    return Failed(f"no asset of the order matches {self.payload.filter!r}")
                for asset in assets:
                    self._upload(asset)
            models = list(self.progress["models"])
            prices = self._prices(models)
            items = self._cart_items(models, prices)
            self._checkout(self._cart(items, *shipping))
        return self._follow()

    # -- the calls --
    def _api(self, method: str, path: str, *, code: bool = True, **body: Any) -> Any:
        headers = {"ApiCode": self.api_code} if code else {}
        return calls.call(
            self.ctx.services,
            PARTNER,
            method,
            calls.endpoint(self.base_url, path),
            what=f"{method} {path.replace(self.tool_id, '{toolId}')}",
            headers=headers,
            **body,
        )

    def _blob(self, document: Mapping[str, Any]) -> dict[str, Any]:
        """Materialise's cart APIs take their JSON as a multipart part `data` named `blob`."""
        return {"data": ("blob", json.dumps(document).encode(), "application/json")}

    # -- the steps --
    def _upload(self, asset: AssetRef) -> None:
        """Upload a model once; what the next steps need of it is kept in the progress."""
        models = list(self.progress.get("models") or [])
        if any(model["assetId"] == asset.id for model in models):
            return
        content = self.ctx.services.read_asset(asset.id)
        answer = self._api(
            "POST",
            f"web-api/tool/{self.tool_id}/model",
            code=False,
            multipart={
                "file": (asset.name, content, "application/octet-stream"),
                "fileUnits": self.payload.fileUnits,
            },
        )
        if not answer.get("modelID"):
            raise PermanentError(f"{PARTNER} took {asset.name} but gave no modelID")
        product = calls.product_of(self.ctx.order, asset)
        facts = {k: answer.get(k) for k in MODEL_FACTS}
        quantity = int(product["units"]) if product else 1
        models.append({"assetId": asset.id, "name": asset.name, "quantity": quantity, **facts})
        self.save(models=models)

    def _prices(self, models: list[dict[str, Any]]) -> dict[str, Any]:
        """Each model's price (by model id) for the payload's material and finish."""
        if "prices" not in self.progress:
            document = {
                "models": [
                    {
                        "modelID": model["modelID"],
                        "materialID": self.payload.materialId,
                        "finishID": self.payload.finishId,
                        "quantity": model["quantity"],
                        "scale": 1.0,
                    }
                    for model in models
                ],
                "currency": self.payload.currency,
            }
            answer = self._api("POST", "web-api/pricing/model", document=document)
            found = {m.get("modelID"): m.get("totalPrice") for m in answer.get("models") or []}
            for model in models:
                if found.get(model["modelID"]) is None:
                    raise PermanentError(f"{PARTNER} gave no price for {model['name']}")
            self.save(prices={m["modelID"]: found[m["modelID"]] for m in models})
        return dict(self.progress["prices"])

    def _cart_items(self, models: list[dict[str, Any]], prices: dict[str, Any]) -> list[Any]:
        if "cartItemIds" not in self.progress:
            reference = self.ctx.order["thirdPartyOrderId"]
            items = [
                {
                    "toolID": self.tool_id,
                    "MyCartItemReference": f"{reference}/{model['name']}",
                    "modelID": model["modelID"],
                    "modelFileName": "",
                    "fileUnits": self.payload.fileUnits,
                    "fileScaleFactor": "1",
                    "materialID": self.payload.materialId,
                    "finishID": self.payload.finishId,
                    "quantity": model["quantity"],
                    **{k: model[k] for k in MODEL_FACTS[1:]},
                    "iMatAPIPrice": prices[model["modelID"]],
                    "mySalesPrice": prices[model["modelID"]],
                }
                for model in models
            ]
            document = {"cartItems": items, "currency": self.payload.currency}
            answer = self._api("POST", "web-api/cartitems/register", multipart=self._blob(document))
            ids = [item.get("cartItemID") for item in answer.get("cartItems") or []]
            if len(ids) != len(models) or not all(ids):
                raise PermanentError(f"{PARTNER} registered {len(ids)} of {len(models)} cart items")
            self.save(cartItemIds=ids)
        return list(self.progress["cartItemIds"])

    def _cart(
        self,
        items: list[Any],
        shipping: dict[str, str],
        billing: dict[str, str],
    ) -> Any:
        if "cartId" not in self.progress:
            document = {
                "MyCartReference": self.ctx.order["thirdPartyOrderId"],
                "Currency": self.payload.currency,
                "LanguageCode": self.payload.languageCode,
                "ReturnUrl": "",
                "OrderConfirmationUrl": "",
                "FailureUrl": "",
                "PromoCode": "",
                "CartItems": [{"CartItemID": item} for item in items],
                "ShippingInfo": shipping,
                "BillingInfo": billing,
            }
            answer = self._api("POST", "web-api/cart/post", document=document)
            if not answer.get("cartID"):
                raise PermanentError(f"{PARTNER} made the cart but gave no cartID")
            self.save(cartId=answer["cartID"])
        return self.progress["cartId"]

    def _checkout(self, cart: Any) -> None:
        document = {
            "cartID": cart,
            "myOrderReference": self.ctx.order["thirdPartyOrderId"],
            "directMailingAllowed": "false",
            "shipmentService": self.payload.shipmentService,
            "remarks": self.ctx.services.render(self.payload.remarks),
            "languageCode": self.payload.languageCode,
        }
        answer = self._api("POST", "web-api/order/post", multipart=self._blob(document))
        if not answer.get("orderNumber"):
            raise PermanentError(f"{PARTNER} checked the cart out but gave no orderNumber")
        self.save(orderId=answer.get("orderID"), orderNumber=answer["orderNumber"])

    def _follow(self) -> Outcome:
        number = self.progress["orderNumber"]
        answer = self._api("POST", "web-api/order", document={"orderNumber": number})
        status = str(answer.get("status", "")).lower()
        if status in {s.lower() for s in self.payload.successStatuses}:
            return Succeeded(result=self._result(status))
        if status in {s.lower() for s in self.payload.failureStatuses}:
            return Failed(f"{PARTNER} order {number} is {status}")
        if status != self.progress.get("status"):
            self.save(status=status)
        return Waiting(
            until=self.ctx.now + timedelta(seconds=self.payload.pollSeconds),
            message=f"{PARTNER} order {number}: {status or 'no status yet'}",
        )

    def _result(self, status: str) -> dict[str, Any]:
        return {
            "orderNumber": self.progress["orderNumber"],
            "orderId": self.progress.get("orderId"),
            "cartId": self.progress.get("cartId"),
            "models": [
                {"assetId": m["assetId"], "name": m["name"], "modelId": m["modelID"]}
                for m in self.progress.get("models") or []
            ],
            "status": status,
        }


# The order's addresses as Materialise's ShippingInfo / BillingInfo ------------------------------


def shipping_info(order: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]] | Failed:
    """ShippingInfo and BillingInfo from the order's shipping (and billing) address and its
    customer info; the billing address defaults to the shipping one."""
    addresses = [a for a in order.get("addresses") or [] if isinstance(a, Mapping)]
    shipping = _address(addresses, "shipping")
    if shipping is None:
        return Failed("the order has no shipping address for Materialise")
    billing = _address(addresses, "billing") or shipping
    ship_to = _info(order, shipping)
    bill_to = {**_info(order, billing), "VatNumber": str(billing.get("vatNumber") or "")}
    return ship_to, bill_to


def _address(addresses: list[Mapping[str, Any]], kind: str) -> Mapping[str, Any] | None:
    for address in addresses:
        if address.get("addressType") == kind and isinstance(address.get("data"), Mapping):
            return address["data"]
    return None


def _info(order: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, str]:
    customer = order.get("customerInfo") or {}
    first, last = data.get("firstName"), data.get("lastName")
    if not (first or last):
        first, _, last = str(data.get("name") or customer.get("name") or "").rpartition(" ")
        first, last = (first, last) if first else (last, "")

    def text(*values: Any) -> str:
        return next((str(v) for v in values if v), "")

    return {
        "FirstName": text(first),
        "LastName": text(last),
        "Email": text(data.get("email"), order.get("customerEmail"), customer.get("email")),
        "Phone": text(data.get("phone"), customer.get("phone")),
        "Company": text(data.get("company"), customer.get("company")),
        "Line1": text(data.get("line1")),
        "Line2": text(data.get("line2")),
        "CountryCode": text(data.get("country")),
        "StateCode": text(data.get("state")),
        "ZipCode": text(data.get("postcode"), data.get("zip")),
        "City": text(data.get("city")),
    }


def register() -> None:
    """From ConnectorsConfig.ready(): the handler and the connection test of this kind."""
    registry.register(MaterialiseOrder)
    testing.register_tester(ConnectionKind.MATERIALISE, probe_connection)
