"""Payload models of the built-in handlers, and which of their fields are templates."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

import re2
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError, PydanticUndefined

from fabflow.core.templating import placeholders

TEMPLATE_KIND_KEY = "x-fabflow-template"
MAX_WAIT_MS = 366 * 24 * 3600 * 1000
# Set by the connector call itself; a payload must not override them.
RESERVED_HEADERS = frozenset(
    {
        "content-type",
        "content-length",
        "host",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    }
)


class TemplateKind(StrEnum):
    """How a template field is rendered (see fabflow.core.templating.render)."""

    HEADER = "header"  # header=True: CR/LF refused, e.g. subject, recipients, uri
    HTML = "html"  # html=True: values HTML-escaped
    TEXT = "text"  # plain text


def template(kind: TemplateKind, default: Any = PydanticUndefined, **kwargs: Any) -> Any:
    """A pydantic Field marked as a template; the mark also shows in the JSON schema."""
    return Field(default, json_schema_extra={TEMPLATE_KIND_KEY: kind.value}, **kwargs)


def template_fields(model: type[BaseModel]) -> dict[str, TemplateKind]:
    """The JSON names of a payload model's template fields, with how each is rendered."""
    fields: dict[str, TemplateKind] = {}
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra
        kind = extra.get(TEMPLATE_KIND_KEY) if isinstance(extra, dict) else None
        if isinstance(kind, str):
            fields[info.alias or name] = TemplateKind(kind)
    return fields


def _reject_line_breaks(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise PydanticCustomError("line_break", "must not contain CR or LF")
    return value


_LOOKAROUNDS = ("(?=", "(?!", "(?<=", "(?<!")
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


def _regex_problem(pattern: str, reason: str) -> str:
    operator = reason.removeprefix("invalid perl operator: ")
    escape = reason.removeprefix("invalid escape sequence: ")
    if operator in _LOOKAROUNDS:
        return "lookarounds are not supported: they are not linear-time (RE2 syntax)"
    if escape[1:2].isdigit() or escape == "\\k" or (operator == "(?P" and "(?P=" in pattern):
        return "backreferences are not supported: they are not linear-time (RE2 syntax)"
    return f"invalid regular expression: {reason}"


def _linear_time_regex(pattern: str) -> str:
    try:
        re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0]
        reason = reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)
        raise PydanticCustomError("regex", _regex_problem(pattern, reason)) from None
    return pattern


def _unique(values: list[str]) -> list[str]:
    duplicates = sorted({value for value in values if values.count(value) > 1})
    if duplicates:
        raise PydanticCustomError("unique", "duplicate values: {values}", {"values": duplicates})
    return values


def _header_names(headers: dict[str, str]) -> dict[str, str]:
    reserved = sorted(name for name in headers if name.lower() in RESERVED_HEADERS)
    if reserved:
        raise PydanticCustomError(
            "reserved_header", "headers set by Fabflow: {names}", {"names": reserved}
        )
    return headers


Line = Annotated[str, StringConstraints(min_length=1, max_length=998)]
HeaderLine = Annotated[Line, AfterValidator(_reject_line_breaks)]
Address = Annotated[
    str, StringConstraints(min_length=1, max_length=320), AfterValidator(_reject_line_breaks)
]
Addresses = Annotated[list[Address], Field(max_length=100)]


def _one_or_many(value: object, handler: ValidatorFunctionWrapHandler) -> object:
    """One address as a list of it; its error stays at the field, not at an index."""
    if not isinstance(value, str):
        if not isinstance(value, list):
            raise PydanticCustomError("addresses", "must be an address or a list of addresses")
        return handler(value)
    try:
        return handler([value])
    except ValidationError as exc:
        error = exc.errors()[0]
        raise PydanticCustomError(error["type"], error["msg"]) from None


# One address or a list, in either field: the seed documentation's own examples write both.
Recipients = Annotated[
    Addresses,
    Field(min_length=1),
    WrapValidator(_one_or_many, json_schema_input_type=Address | Addresses),
]
HtmlBody = Annotated[str, StringConstraints(max_length=200_000)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Regex = Annotated[
    str, StringConstraints(min_length=1, max_length=1000), AfterValidator(_linear_time_regex)
]
Uri = Annotated[
    str, StringConstraints(min_length=1, max_length=2048), AfterValidator(_reject_line_breaks)
]
HeaderName = Annotated[
    str, StringConstraints(max_length=256, pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
]
HeaderValue = Annotated[
    str, StringConstraints(max_length=8192), AfterValidator(_reject_line_breaks)
]
Outcome = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Millis = Annotated[int, Field(ge=-MAX_WAIT_MS, le=MAX_WAIT_MS)]


def _exactly_one(payload: BaseModel, first: str, second: str) -> None:
    if (getattr(payload, first) is None) == (getattr(payload, second) is None):
        raise PydanticCustomError(
            "exactly_one",
            "exactly one of {first} or {second} is required",
            {"first": repr(first), "second": repr(second)},
        )


class PayloadModel(BaseModel):
    """Base of handler payloads: strict JSON types, unknown fields refused."""

    model_config = ConfigDict(extra="forbid", strict=True)

    def warnings(self) -> dict[str, str]:
        """Field: what is worth a look in a valid payload (shown beside errors, never refused)."""
        return {}


class SendEmailPayload(PayloadModel):
    """`send-email`: one e-mail to `recipient` or `recipients`."""

    recipient: Recipients | None = template(TemplateKind.HEADER, None)
    recipients: Recipients | None = template(TemplateKind.HEADER, None)
    subject: HeaderLine = template(TemplateKind.HEADER)
    body: HtmlBody = template(TemplateKind.HTML)
    cc: Addresses = template(TemplateKind.HEADER, default_factory=list)
    bcc: Addresses = template(TemplateKind.HEADER, default_factory=list)

    @model_validator(mode="after")
    def _one_recipient_field(self) -> SendEmailPayload:
        _exactly_one(self, "recipient", "recipients")
        return self


class AssetEmailPayload(PayloadModel):
    """`asset-email`: download links of the assets whose name matches `filter`."""

    filter: Regex
    recipients: Recipients = template(TemplateKind.HEADER)
    subject: HeaderLine = template(TemplateKind.HEADER)
    body: HtmlBody = template(TemplateKind.HTML)
    needConfirmation: bool = False

    @property
    def confirmation_button(self) -> bool:
        """Whether the confirmation link goes under the body: it needs one and has no place."""
        return self.needConfirmation and "confirmationUrl" not in placeholders(self.body)

    def warnings(self) -> dict[str, str]:
        if self.confirmation_button:
            msg = "no {confirmationUrl}: the confirmation link is added as a button under the body"
            return {"body": msg}
        return {}


class ConsumeRestApiPayload(PayloadModel):
    """`consume-rest-api`: the connector contract of docs/flows.md."""

    uri: Uri = template(TemplateKind.HEADER)
    sendsFeedback: bool = False
    method: Literal["POST", "PUT", "PATCH"] = "POST"
    headers: Annotated[
        dict[HeaderName, HeaderValue], Field(max_length=50), AfterValidator(_header_names)
    ] = template(TemplateKind.HEADER, default_factory=dict)


class ManualTaskPayload(PayloadModel):
    """`manual-task`: waits for a person to pick one of `outcomes`."""

    title: Annotated[HeaderLine, StringConstraints(max_length=200)] = template(TemplateKind.TEXT)
    description: Annotated[str, StringConstraints(max_length=10_000)] = template(
        TemplateKind.TEXT, ""
    )
    assigneeTags: Annotated[list[Name], Field(max_length=50)] = Field(default_factory=list)
    outcomes: Annotated[
        list[Outcome], Field(min_length=1, max_length=20), AfterValidator(_unique)
    ] = Field(default_factory=lambda: ["done"])
    failureOutcomes: Annotated[list[Outcome], Field(max_length=20)] = Field(default_factory=list)

    @field_validator("failureOutcomes")
    @classmethod
    def _failures_are_outcomes(cls, values: list[str], info: ValidationInfo) -> list[str]:
        outcomes = info.data.get("outcomes")
        unknown = [value for value in values if outcomes is not None and value not in outcomes]
        if unknown:
            raise PydanticCustomError(
                "failure_outcome", "not among outcomes: {values}", {"values": unknown}
            )
        return values


class WaitPayload(PayloadModel):
    """`wait`: a durable timer of `durationMs`, or until the order's deadline (+ `offsetMs`)."""

    durationMs: Annotated[int, Field(ge=0, le=MAX_WAIT_MS)] | None = None
    until: Literal["deadline"] | None = None
    offsetMs: Millis | None = None

    @model_validator(mode="after")
    def _duration_or_until(self) -> WaitPayload:
        _exactly_one(self, "durationMs", "until")
        if self.offsetMs is not None and self.until is None:
            raise PydanticCustomError("offset_without_until", "offsetMs requires until")
        return self


class GenerateProductionFilesPayload(PayloadModel):
    """`generate-production-files`: renders the space's parametric model per product or part
    whose name matches `filter` (docs/production.md)."""

    model: Name
    fileFormat: Literal["stl", "3mf", "obj"] = "stl"
    target: Literal["product", "part"] = "product"
    filter: Regex | None = None
    preview: bool = True
    # OpenSCAD's $fn: segments of a full circle
    resolution: Annotated[int, Field(ge=3, le=1000)] | None = None
    allowNonWatertight: bool = False


def _scalar_settings(settings: dict[str, Any]) -> dict[str, Any]:
    for key, value in settings.items():
        if not isinstance(value, str | int | float | bool):
            raise PydanticCustomError(
                "setting_type",
                "setting {key} must be a string, number or boolean",
                {"key": repr(key)},
            )
    return settings


class SlicePayload(PayloadModel):
    """`slice`: slices the matching STL assets with a CuraEngine profile."""

    profile: Name
    settings: Annotated[
        dict[Name, Any], Field(max_length=500), AfterValidator(_scalar_settings)
    ] = Field(default_factory=dict)
    filter: Regex = r"\.stl$"


BUILTIN_PAYLOADS: dict[str, type[BaseModel]] = {
    "send-email": SendEmailPayload,
    "asset-email": AssetEmailPayload,
    "consume-rest-api": ConsumeRestApiPayload,
    "manual-task": ManualTaskPayload,
    "wait": WaitPayload,
    "generate-production-files": GenerateProductionFilesPayload,
    "slice": SlicePayload,
}
