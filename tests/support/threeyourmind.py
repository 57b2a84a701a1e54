"""A fake 3YOURMIND API v2.0 on 127.0.0.1: token auth as Django REST framework does it, the
user panel's baskets, lines, file upload and analysis, requests for quote and orders, with the
request shapes checked and statuses that move on with each poll."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from werkzeug import Request, Response

from tests.support.fakes import FakePartner, Received, exact_keys, recorded

PARTNER = "3yourmind"
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def answer_doc(document: str, **values: Any) -> dict[str, Any]:
    return {**recorded(PARTNER, f"{document}.answer.json"), **values}


@dataclass
class Line:
    id: int
    basket_id: int
    file: tuple[str, bytes] | None = None
    status_polls: int = 0
    patch: dict[str, Any] = field(default_factory=dict)


class FakeThreeYourMind(FakePartner):
    prefix = "/api/v2.0"

    def __init__(self, *, token: str = "3ym-token-1234") -> None:  # noqa: S107 (a fake's token)
        super().__init__()
        self.token = token
        self.offers = {42, 43}
        self.partners = {7}
        self.analysis_polls = 2  # "pending" this many times, then the analysis result
        self.analysis_result = "finished"
        self.quote_statuses = ["waiting_for_quote", "quoted"]
        self.order_statuses = ["ordered", "in_production", "shipped"]
        self.baskets: list[int] = []
        self.lines: dict[int, Line] = {}
        self.rfqs: dict[int, dict[str, Any]] = {}
        self.orders: dict[int, dict[str, Any]] = {}
        self.polls: dict[tuple[str, int], int] = {}

    def route(self, request: Request, got: Received) -> Response:
        auth = got.headers.get("Authorization", "")
        if not auth:
            return self.answer(401, recorded(PARTNER, "error-no-credentials.answer.json"))
        if auth != f"Token {self.token}":
            return self.answer(401, recorded(PARTNER, "error-invalid-token.answer.json"))
        for pattern, method, handle in self._routes():
            match = re.fullmatch(pattern, got.path)
            if match and got.method == method:
                return handle(got, *[int(g) for g in match.groups()])
        return self.answer(404, {"detail": "Not found."})

    def _routes(self) -> list[tuple[str, str, Any]]:
        return [
            (r"/my-profile/preferences/", "GET", self._preferences),
            (r"/user-panel/baskets/", "POST", self._basket),
            (r"/user-panel/baskets/(\d+)/lines/", "POST", self._line),
            (r"/files/", "POST", self._upload),
            (r"/user-panel/baskets/(\d+)/lines/(\d+)/file-status/", "GET", self._status),
            (r"/user-panel/baskets/(\d+)/lines/(\d+)/", "PATCH", self._patch),
            (r"/user-panel/requests-for-quote/", "POST", self._rfq),
            (r"/user-panel/requests-for-quote/(\d+)/", "GET", self._poll_rfq),
            (r"/user-panel/orders/", "POST", self._order),
            (r"/user-panel/orders/(\d+)/", "GET", self._poll_order),
        ]

    # -- baskets and lines --
    def _preferences(self, got: Received) -> Response:
        return self.answer(200, recorded(PARTNER, "preferences.answer.json"))

    def _basket(self, got: Received) -> Response:
        if got.json is not None or got.form:
            return self.violation("POST baskets/ takes no body")
        self.baskets.append(len(self.baskets) + 1)
        return self.answer(201, answer_doc("basket", id=self.baskets[-1]))

    def _line(self, got: Received, basket: int) -> Response:
        if basket not in self.baskets:
            return self.answer(404, {"detail": "Not found."})
        line = Line(len(self.lines) + 1, basket)
        self.lines[line.id] = line
        return self.answer(201, answer_doc("line", id=line.id, basketId=basket))

    def _upload(self, got: Received) -> Response:
        if set(got.query) != {"basket_id", "line_id"}:
            return self.violation(f"files/ takes ?basket_id=&line_id=, got {sorted(got.query)}")
        line = self.lines.get(int(got.query["line_id"]))
        if line is None or line.basket_id != int(got.query["basket_id"]):
            return self.answer(404, {"detail": "Not found."})
        if set(got.files) != {"file"} or set(got.form) != {"unit"}:
            return self.violation(f"upload fields {sorted(got.files)} {sorted(got.form)}")
        if got.form["unit"] not in ("mm", "cm", "inch"):
            return self.answer(400, {"unit": [f'"{got.form["unit"]}" is not a valid choice.']})
        name, _kind, content = got.files["file"]
        line.file = (name, content)
        doc = answer_doc("upload", uuid=str(uuid.uuid4()), name=name, basketId=line.basket_id)
        return self.answer(201, {**doc, "lineId": line.id, "unit": got.form["unit"]})

    def _status(self, got: Received, basket: int, line_id: int) -> Response:
        line = self.lines.get(line_id)
        if line is None or line.basket_id != basket or line.file is None:
            return self.answer(404, {"detail": "Not found."})
        line.status_polls += 1
        if line.status_polls <= self.analysis_polls:
            return self.answer(200, recorded(PARTNER, "file-status-pending.answer.json"))
        return self.answer(
            200, recorded(PARTNER, f"file-status-{self.analysis_result}.answer.json")
        )

    def _patch(self, got: Received, basket: int, line_id: int) -> Response:
        line = self.lines.get(line_id)
        if line is None or line.basket_id != basket:
            return self.answer(404, {"detail": "Not found."})
        problem = exact_keys(got.json, set(), {"quantity", "offerId", "preferredDueDate"})
        if problem:
            return self.violation(f"PATCH line: {problem}")
        body = got.json
        if not isinstance(body.get("quantity", 1), int) or body.get("quantity", 1) < 1:
            return self.answer(
                400, {"quantity": ["Ensure this value is greater than or equal to 1."]}
            )
        if "offerId" in body and body["offerId"] not in self.offers:
            return self.answer(400, recorded(PARTNER, "error-offer.answer.json"))
        if "preferredDueDate" in body and not DATE.fullmatch(str(body["preferredDueDate"])):
            return self.violation(
                f"preferredDueDate {body['preferredDueDate']!r} is not YYYY-MM-DD"
            )
        if line.status_polls <= self.analysis_polls:
            return self.answer(400, {"nonFieldErrors": ["The file analysis is not finished."]})
        line.patch.update(body)
        return self.answer(
            200, answer_doc("line", id=line.id, basketId=basket, quantity=body.get("quantity", 1))
        )

    def _configured(self, basket: int) -> str | None:
        lines = [line for line in self.lines.values() if line.basket_id == basket]
        if basket not in self.baskets or not lines:
            return "the basket has no lines"
        if any("offerId" not in line.patch for line in lines):
            return "every line needs an offer"
        return None

    # -- quotes and orders --
    def _rfq(self, got: Received) -> Response:
        problem = exact_keys(got.json, {"basketId", "partnerId", "message"})
        if problem:
            return self.violation(f"POST requests-for-quote/: {problem}")
        if got.json["partnerId"] not in self.partners:
            return self.answer(
                400,
                {"partnerId": [f'Invalid pk "{got.json["partnerId"]}" - object does not exist.']},
            )
        unready = self._configured(got.json["basketId"])
        if unready:
            return self.answer(400, {"basketId": [unready]})
        rfq_id = len(self.rfqs) + 1
        self.rfqs[rfq_id] = got.json
        return self.answer(
            201, answer_doc("request-for-quote", id=rfq_id, basketId=got.json["basketId"])
        )

    def _order(self, got: Received) -> Response:
        problem = exact_keys(got.json, {"basketId", "additionalInformation"}, {"partnerId"})
        if problem:
            return self.violation(f"POST orders/: {problem}")
        unready = self._configured(got.json["basketId"])
        if unready:
            return self.answer(400, {"basketId": [unready]})
        order_id = len(self.orders) + 1
        self.orders[order_id] = got.json
        return self.answer(201, answer_doc("order", id=order_id, basketId=got.json["basketId"]))

    def _poll(self, kind: str, item: int, statuses: list[str]) -> str:
        seen = self.polls.get((kind, item), 0)
        self.polls[(kind, item)] = seen + 1
        return statuses[min(seen, len(statuses) - 1)]

    def _poll_rfq(self, got: Received, rfq_id: int) -> Response:
        if rfq_id not in self.rfqs:
            return self.answer(404, {"detail": "Not found."})
        status = self._poll("rfq", rfq_id, self.quote_statuses)
        return self.answer(200, answer_doc("request-for-quote", id=rfq_id, status=status))

    def _poll_order(self, got: Received, order_id: int) -> Response:
        if order_id not in self.orders:
            return self.answer(404, {"detail": "Not found."})
        status = self._poll("order", order_id, self.order_statuses)
        return self.answer(200, answer_doc("order", id=order_id, status=status))
