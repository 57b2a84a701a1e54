"""An example Fabflow handler plugin: `hello` stores a rendered greeting as an order asset."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from fabflow.flows.handlers.base import Handler, HandlerContext, Outcome, Succeeded
from fabflow.flows.handlers.payloads import TemplateKind, template


class HelloPayload(BaseModel):
    """`hello`: the greeting is a template over the order, e.g. "Hello {customerInfo.name}"."""

    model_config = ConfigDict(extra="forbid", strict=True)

    greeting: str = template(TemplateKind.TEXT, min_length=1, max_length=1000)


class HelloHandler(Handler):
    key = "hello"
    payload_model = HelloPayload
    title = "Say hello"

    def run(self, ctx: HandlerContext) -> Outcome:
        payload = ctx.payload
        if not isinstance(payload, HelloPayload):  # the engine validated it with payload_model
            raise TypeError(f"expected a HelloPayload, got {type(payload).__name__}")
        text = ctx.services.render(payload.greeting)
        asset_id = ctx.services.store_asset(
            name="hello.txt", data=text.encode(), content_type="text/plain"
        )
        return Succeeded(result={"asset": asset_id})
