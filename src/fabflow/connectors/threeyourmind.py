"""3YOURMIND (`3yourmind-order`): a basket of the order's files, then a quote request or an
order, polled to its end (docs/connectors/3yourmind.md).

The handler is called again and again for one task run (file analysis and status polls,
retries, a worker restart): every partner id is saved in the run's progress right after the
call that made it, and every step looks there first, so a later call resumes where the last
one stopped instead of creating a second basket, line or order.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

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

KIND = ConnectionKind.THREEYOURMIND
PARTNER = "3YOURMIND"
# The partner analyses an uploaded file in seconds to minutes: look more often than for a
# quote or an order, which take hours or days.
ANALYSIS_POLL_S = 10
Status = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class ThreeYourMindPayload(PayloadModel):
    """`3yourmind-order`: the connection, `quote` or `order`, and what to ask for."""

    connection: Name
    mode: Literal["quote", "order"]
    filter: Regex = r"\.stl$"
    offerId: int | None = Field(default=None, ge=1)
    offerMap: dict[Name, Annotated[int, Field(ge=1)]] = Field(default_factory=dict, max_length=500)
    partnerId: int | None = Field(default=None, ge=1)
    message: Annotated[str, StringConstraints(max_length=5000)] = template(TemplateKind.TEXT, "")
    unit: Literal["mm", "cm", "inch"] = "mm"
    successStatuses: list[Status] | None = Field(default=None, min_length=1, max_length=50)
    failureStatuses: list[Status] = Field(
        default_factory=lambda: ["cancelled", "declined", "rejected"], max_length=50
    )
    pollSeconds: int = Field(default=60, ge=1, le=7 * 86400)

    @model_validator(mode="after")
    def _complete(self) -> ThreeYourMindPayload:
        if self.offerId is None and not self.offerMap:
            raise ValueError("offerId or offerMap is required: the offer each line is made for")
        if self.mode == "quote" and self.partnerId is None:
            raise ValueError("partnerId is required with mode 'quote': the supplier to ask")
        return self

    def succeeded(self, status: str) -> bool:
        default = ["quoted"] if self.mode == "quote" else ["shipped"]
        return status in {s.lower() for s in self.successStatuses or default}

    def failed(self, status: str) -> bool:
        return status in {s.lower() for s in self.failureStatuses}


def probe_connection(connection: Connection) -> testing.TestResult:
    """A harmless authenticated read: the token's user preferences."""
    token = calls.credential(connection, "token")
    url = calls.endpoint(connection.base_url, "my-profile/preferences/")
    return testing.TestResult(*calls.probe(PARTNER, url, {"Authorization": f"Token {token}"}))


class ThreeYourMindOrder(Handler):
    key = "3yourmind-order"
    payload_model = ThreeYourMindPayload
    title = "Order from 3YOURMIND"

    def run(self, ctx: HandlerContext) -> Outcome:
        payload = ctx.payload
        if not isinstance(payload, ThreeYourMindPayload):
            raise TypeError("expected a ThreeYourMindPayload")
        return calls.run_session(ctx, lambda: _Basket(ctx, payload))


class _Basket(calls.Session):
    """One call's work on the order's basket, from the progress of the earlier calls."""

    def __init__(self, ctx: HandlerContext, payload: ThreeYourMindPayload) -> None:
        super().__init__(ctx)
        found = connection_for(str(ctx.order["spaceKey"]), payload.connection, KIND)
        self.base_url = found.base_url
        self.token = calls.credential(found, "token")
        self.payload = payload

    def advance(self) -> Outcome:
        submitted = self._submitted()
        if submitted is None:
            stop = self._prepare()
            if stop is not None:
                return stop
            submitted = self._submit(self.progress["basketId"])
        return self._follow(submitted)

    def _prepare(self) -> Outcome | None:
        """Basket, lines, uploads, analysis and line settings; an outcome when the task must
        stop or wait here, None once the basket is ready to be submitted."""
        assets = self.ctx.services.assets(self.payload.filter)
        if not assets:
            return Failed(f"no asset of the order matches {self.payload.filter!r}")
        basket = self._basket()
        for asset in assets:
            self._line(basket, asset)
        analysing = self._analysis(basket, assets)
        if isinstance(analysing, Failed):
            return analysing
        if analysing:
            wait = min(ANALYSIS_POLL_S, self.payload.pollSeconds)
            return Waiting(
                until=self.ctx.now + timedelta(seconds=wait),
                message=f"{PARTNER} is analysing {', '.join(analysing)}",
            )
        for asset in assets:
            problem = self._configure(basket, asset)
            if problem is not None:
                return problem
        return None

    # -- the calls --
    def _api(self, method: str, path: str, **body: Any) -> Any:
        return calls.call(
            self.ctx.services,
            PARTNER,
            method,
            calls.endpoint(self.base_url, path),
            what=f"{method} {path.split('?')[0]}",
            headers={"Authorization": f"Token {self.token}"},
            **body,
        )

    def _lines(self) -> dict[str, dict[str, Any]]:
        """The basket's lines by asset id (kept as a list: PostgreSQL's jsonb does not keep
        an object's key order, and the lines are reported in the order they were made)."""
        return {line["assetId"]: dict(line) for line in self.progress.get("lines") or []}

    def _save_line(self, asset: AssetRef, **data: Any) -> dict[str, Any]:
        lines = self._lines()
        lines[asset.id] = {**lines.get(asset.id, {"assetId": asset.id}), **data}
        self.save(lines=list(lines.values()))
        return lines[asset.id]

    # -- the steps --
    def _basket(self) -> Any:
        if "basketId" not in self.progress:
            self.save(basketId=_id(self._api("POST", "user-panel/baskets/"), "the basket"))
        return self.progress["basketId"]

    def _line(self, basket: Any, asset: AssetRef) -> None:
        line = self._lines().get(asset.id, {})
        if "lineId" not in line:
            made = self._api("POST", f"user-panel/baskets/{basket}/lines/")
            line = self._save_line(asset, lineId=_id(made, "the line"), name=asset.name)
        if not line.get("uploaded"):
            content = self.ctx.services.read_asset(asset.id)
            kind = asset.content_type or "application/octet-stream"
            self._api(
                "POST",
                f"files/?basket_id={basket}&line_id={line['lineId']}",
                multipart={"file": (asset.name, content, kind), "unit": self.payload.unit},
            )
            self._save_line(asset, uploaded=True)

    def _analysis(self, basket: Any, assets: list[AssetRef]) -> list[str] | Failed:
        """The names of files still being analysed, or the failure of one."""
        analysing = []
        for asset in assets:
            line = self._lines()[asset.id]
            if line.get("analysed"):
                continue
            path = f"user-panel/baskets/{basket}/lines/{line['lineId']}/file-status/"
            answer = self._api("GET", path)
            status = str(answer.get("status", "")).lower()
            if status == "finished":
                self._save_line(asset, analysed=True)
            elif status in ("failed", "error"):
                said = calls.partner_message({k: v for k, v in answer.items() if k != "status"})
                return Failed(
                    f"{PARTNER} could not analyse {asset.name}" + (f": {said}" if said else "")
                )
            else:
                analysing.append(asset.name)
        return analysing

    def _configure(self, basket: Any, asset: AssetRef) -> Failed | None:
        line = self._lines()[asset.id]
        if line.get("configured"):
            return None
        product = calls.product_of(self.ctx.order, asset)
        name = str(product["name"]) if product else ""
        offer = self.payload.offerMap.get(name, self.payload.offerId)
        if offer is None:
            return Failed(f"no offer for product {name!r}: add it to offerMap or set offerId")
        change: dict[str, Any] = {"quantity": int(product["units"]) if product else 1}
        change["offerId"] = offer
        deadline = calls.deadline(self.ctx.order)
        if deadline is not None:
            change["preferredDueDate"] = deadline.date().isoformat()
        self._api("PATCH", f"user-panel/baskets/{basket}/lines/{line['lineId']}/", document=change)
        self._save_line(asset, configured=True)
        return None

    def _submitted(self) -> tuple[str, Any] | None:
        """The quote request or order made by an earlier call: then the basket is done with
        (an asset added to the order since is not put into it)."""
        for key in ("requestForQuoteId", "orderId"):
            if key in self.progress:
                return key, self.progress[key]
        return None

    def _submit(self, basket: Any) -> tuple[str, Any]:
        """Ask for the quote or place the order once; the id key and the partner's id."""
        if self.payload.mode == "quote":
            if "requestForQuoteId" not in self.progress:
                document = {
                    "basketId": basket,
                    "partnerId": self.payload.partnerId,
                    "message": self.ctx.services.render(self.payload.message),
                }
                made = self._api("POST", "user-panel/requests-for-quote/", document=document)
                self.save(requestForQuoteId=_id(made, "the request for quote"))
            return "requestForQuoteId", self.progress["requestForQuoteId"]
        if "orderId" not in self.progress:
            document = {
                "basketId": basket,
                "additionalInformation": {"reference": self.ctx.order["thirdPartyOrderId"]},
            }
            if self.payload.partnerId is not None:
                document["partnerId"] = self.payload.partnerId
            made = self._api("POST", "user-panel/orders/", document=document)
            self.save(orderId=_id(made, "the order"))
        return "orderId", self.progress["orderId"]

    def _follow(self, submitted: tuple[str, Any]) -> Outcome:
        key, partner_id = submitted
        path = "requests-for-quote" if key == "requestForQuoteId" else "orders"
        answer = self._api("GET", f"user-panel/{path}/{partner_id}/")
        status = str(answer.get("status", "")).lower()
        what = "request for quote" if key == "requestForQuoteId" else "order"
        if self.payload.succeeded(status):
            return Succeeded(result=self._result(key, partner_id, status))
        if self.payload.failed(status):
            return Failed(f"{PARTNER} {what} {partner_id} is {status}")
        if status != self.progress.get("status"):
            self.save(status=status)
        return Waiting(
            until=self.ctx.now + timedelta(seconds=self.payload.pollSeconds),
            message=f"{PARTNER} {what} {partner_id}: {status or 'no status yet'}",
        )

    def _result(self, key: str, partner_id: Any, status: str) -> dict[str, Any]:
        lines = self.progress.get("lines") or []
        return {
            "basketId": self.progress["basketId"],
            "lines": [
                {"assetId": line["assetId"], "name": line["name"], "lineId": line["lineId"]}
                for line in lines
            ],
            key: partner_id,
            "status": status,
        }


def _id(answer: Mapping[str, Any], what: str) -> Any:
    found = answer.get("id") if isinstance(answer, Mapping) else None
    if isinstance(found, bool) or not isinstance(found, int | str) or found == "":
        raise PermanentError(f"{PARTNER} created {what} but its answer has no id")
    return found


def register() -> None:
    """From ConnectorsConfig.ready(): the handler and the connection test of this kind."""
    registry.register(ThreeYourMindOrder)
    testing.register_tester(ConnectionKind.THREEYOURMIND, probe_connection)
