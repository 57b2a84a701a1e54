"""The connections API's schemas, and the credentials each kind of connection needs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from ninja import Schema
from pydantic import BaseModel, ConfigDict, StringConstraints

from fabflow.connectors.models import ConnectionKind

Secret = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class _Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SiteflowCredentials(_Credentials):
    key: Secret
    secret: Secret


class ThreeYourMindCredentials(_Credentials):
    token: Secret


class MaterialiseCredentials(_Credentials):
    toolId: Secret
    apiCode: Secret


class UltimakerCredentials(_Credentials):
    id: Secret
    key: Secret


# The credentials of each kind, in the order the web page asks for them.
CREDENTIALS: dict[str, type[_Credentials]] = {
    ConnectionKind.HP_SITEFLOW: SiteflowCredentials,
    ConnectionKind.THREEYOURMIND: ThreeYourMindCredentials,
    ConnectionKind.MATERIALISE: MaterialiseCredentials,
    ConnectionKind.ULTIMAKER: UltimakerCredentials,
}


def credential_fields(kind: str) -> list[str]:
    """The names of a kind's credentials ([] for an unknown kind)."""
    model = CREDENTIALS.get(kind)
    return list(model.model_fields) if model else []


class _In(Schema):
    model_config = ConfigDict(extra="forbid")


Name = Annotated[str, StringConstraints(max_length=100)]
Url = Annotated[str, StringConstraints(max_length=2000)]


class ConnectionIn(_In):
    spaceKey: Annotated[str, StringConstraints(max_length=100)] | None = None
    name: Name
    kind: str
    baseUrl: Url
    credentials: dict[str, Any]


class ConnectionUpdateIn(_In):
    """Omitted fields keep their stored values; so do omitted credentials."""

    name: Name | None = None
    kind: str | None = None
    baseUrl: Url | None = None
    credentials: dict[str, Any] | None = None


class ConnectionOut(Schema):
    id: UUID
    spaceKey: str
    name: str
    kind: str
    baseUrl: str
    credentials: dict[str, str]  # masked: "••••" and the last four characters
    createdAt: datetime
    updatedAt: datetime


class ConnectionPage(Schema):
    items: list[ConnectionOut]
    next: str | None = None


class ConnectionTestOut(Schema):
    ok: bool
    status: int | None
    message: str
