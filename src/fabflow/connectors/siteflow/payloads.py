"""Payload models of the Site Flow handlers (their JSON schemas feed the editor and the API)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from fabflow.flows.handlers.payloads import PayloadModel, Regex

ConnectionName = Annotated[
    str, StringConstraints(min_length=1, max_length=100, pattern=r"^[-a-zA-Z0-9_]+$")
]
Text = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Status = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Algorithm = Literal["SHA256", "SHA1"]


class Carrier(PayloadModel):
    """The shipment's carrier as Site Flow names it (`code`, optional `service`)."""

    code: Text
    service: Annotated[str, StringConstraints(max_length=200)] = ""


class SiteflowSubmitPayload(PayloadModel):
    """`siteflow-submit`: send the order to a Site Flow account and wait for its postbacks."""

    connection: ConnectionName = Field(description="The space's hp-siteflow connection.")
    destination: Text = Field(description="The Site Flow account that fulfils the order.")
    filter: Regex = Field(
        r"\.pdf$|\.stl$", description="Asset names (RE2); each product's first match is sent."
    )
    sku: Annotated[str, StringConstraints(max_length=200)] = Field(
        "", description="The SKU of every item; empty: the product's name."
    )
    skuMap: dict[str, Text] = Field(
        default_factory=dict,
        description="SKU by product name or configurationId (wins over `sku`).",
    )
    skuKey: Annotated[str, StringConstraints(max_length=200)] = Field(
        "", description="A key of the product's configuration holding its SKU."
    )
    componentCode: Text = "Content"
    carrier: Carrier
    validateFirst: bool = True
    successStatuses: list[Status] = Field(default_factory=lambda: ["shipped"], min_length=1)
    failureStatuses: list[Status] = Field(default_factory=lambda: ["cancelled", "error"])
    hmacAlgorithm: Algorithm = "SHA256"


class SiteflowCancelPayload(PayloadModel):
    """`siteflow-cancel`: cancel the order submitted to Site Flow (by its sourceOrderId)."""

    connection: ConnectionName
    sourceAccount: Annotated[str, StringConstraints(max_length=200)] = Field(
        "", description="The account the order was submitted from; empty: the connection's."
    )
    hmacAlgorithm: Algorithm = "SHA256"
