"""Payloads of the built-in handlers: defaults, constraints, regexes and template fields."""

from __future__ import annotations

from typing import Any

import pytest

from fabflow.flows.definition import validate_definition
from fabflow.flows.handlers.payloads import BUILTIN_PAYLOADS, TemplateKind, template_fields

EMAIL = {"subject": "Your order", "body": "<p>Hi</p>"}
ASSET_EMAIL = {"filter": r"\.zip$", "recipients": ["{customerEmail}"], **EMAIL}
NOT_LINEAR = "not linear-time (RE2 syntax)"
HEADER, HTML, TEXT = TemplateKind.HEADER, TemplateKind.HTML, TemplateKind.TEXT


def payload_errors(handler: str, payload: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    """The errors of a one-task flow, with paths relative to the payload."""
    raw = [{"key": "s", "name": "S", "taskDefinitions": [
        {"key": "a", "handlerKey": handler, "payload": payload}
    ]}]  # fmt: skip
    prefix = (0, "taskDefinitions", 0, "payload")
    errors = validate_definition(raw)
    assert all(error.loc[:4] == prefix for error in errors)
    return [(error.loc[4:], error.msg) for error in errors]


@pytest.mark.parametrize(
    ("handler", "payload"),
    [
        ("send-email", {"recipient": "ann@shop.example", **EMAIL}),
        ("send-email", {"recipients": ["a@x.example", "{customerEmail}"], "cc": ["c@x.example"],
                        "bcc": [], **EMAIL}),
        ("send-email", {"recipient": ["a@x.example", "b@x.example"], **EMAIL}),
        ("send-email", {"recipients": "{customerEmail}", **EMAIL}),
        ("asset-email", {**ASSET_EMAIL, "needConfirmation": True}),
        ("asset-email", {**ASSET_EMAIL, "recipients": "{customerEmail}"}),
        ("consume-rest-api", {"uri": "https://connector.example/{data.connector}"}),
        ("consume-rest-api", {"uri": "https://c.example", "sendsFeedback": True, "method": "PUT",
                              "headers": {"Authorization": "Bearer {data.token}"}}),
        ("manual-task", {"title": "Check the print of {order.name}"}),
        ("manual-task", {"title": "Approve", "description": "Scan OK?", "assigneeTags": ["qa"],
                         "outcomes": ["approve", "reject"], "failureOutcomes": ["reject"]}),
        ("wait", {"durationMs": 0}),
        ("wait", {"until": "deadline"}),
        ("wait", {"until": "deadline", "offsetMs": -86400000}),
        ("generate-production-files", {"model": "ring", "fileFormat": "3mf", "target": "part"}),
        ("slice", {"profile": "ultimaker-s5-pla"}),
        ("slice", {"profile": "p", "settings": {"layer_height": 0.2, "adhesion": True,
                                                "infill": 20, "support": "none"},
                   "filter": r"(?i)\.stl$"}),
    ],
)  # fmt: skip
def test_valid_payloads_pass(handler: str, payload: dict[str, Any]) -> None:
    # given a well-formed payload of a built-in handler / when validated / then no error
    assert payload_errors(handler, payload) == []


@pytest.mark.parametrize(
    ("handler", "payload", "field", "expected"),
    [
        ("send-email", {"recipient": "a@x.example", **EMAIL}, "cc", []),
        ("send-email", {"recipient": "a@x.example", **EMAIL}, "recipient", ["a@x.example"]),
        ("asset-email", ASSET_EMAIL, "needConfirmation", False),
        ("consume-rest-api", {"uri": "https://c.example"}, "sendsFeedback", False),
        ("consume-rest-api", {"uri": "https://c.example"}, "method", "POST"),
        ("consume-rest-api", {"uri": "https://c.example"}, "headers", {}),
        ("manual-task", {"title": "t"}, "description", ""),
        ("manual-task", {"title": "t"}, "assigneeTags", []),
        ("manual-task", {"title": "t"}, "outcomes", ["done"]),
        ("manual-task", {"title": "t"}, "failureOutcomes", []),
        ("generate-production-files", {"model": "m", "fileFormat": "stl", "target": "product"},
         "preview", True),
        ("slice", {"profile": "p"}, "settings", {}),
        ("slice", {"profile": "p"}, "filter", r"\.stl$"),
    ],
)  # fmt: skip
def test_payload_defaults(handler: str, payload: dict[str, Any], field: str, expected: Any) -> None:
    # given a payload without the field / when read by its model / then the default applies
    model = BUILTIN_PAYLOADS[handler].model_validate(payload)
    assert getattr(model, field) == expected


@pytest.mark.parametrize(
    ("handler", "payload", "expected"),
    [
        ("send-email", EMAIL, [((), "exactly one of 'recipient' or 'recipients' is required")]),
        ("send-email", {"recipient": "a@x.example", "recipients": ["b@x.example"], **EMAIL},
         [((), "exactly one of 'recipient' or 'recipients' is required")]),
        ("send-email", {"recipients": [], **EMAIL},
         [(("recipients",), "List should have at least 1 item after validation, not 0")]),
        ("send-email", {"recipient": 5, **EMAIL},
         [(("recipient",), "must be an address or a list of addresses")]),
        ("send-email", {"recipient": "", **EMAIL},
         [(("recipient",), "String should have at least 1 character")]),
        ("asset-email", {**ASSET_EMAIL, "recipients": ["a@x.example", ""]},
         [(("recipients", 1), "String should have at least 1 character")]),
        ("send-email", {"recipient": "a@x.example", "subject": "Hi"},
         [(("body",), "field required")]),
        ("send-email", {"recipient": "a@x.example", "replyTo": "x", **EMAIL},
         [(("replyTo",), "unknown field")]),
        ("send-email", {"recipient": "a@x.example", **EMAIL, "subject": "x" * 999},
         [(("subject",), "String should have at most 998 characters")]),
        ("asset-email", {**ASSET_EMAIL, "needConfirmation": "yes"},
         [(("needConfirmation",), "Input should be a valid boolean")]),
        ("consume-rest-api", {}, [(("uri",), "field required")]),
        ("consume-rest-api", {"uri": "https://c.example", "method": "GET"},
         [(("method",), "Input should be 'POST', 'PUT' or 'PATCH'")]),
        ("consume-rest-api", {"uri": "https://c.example", "headers": {"webhook-signature": "v1,x"}},
         [(("headers",), "headers set by Fabflow: ['webhook-signature']")]),
        ("consume-rest-api", {"uri": "https://c.example", "headers": {"X-Count": 3}},
         [(("headers", "X-Count"), "Input should be a valid string")]),
        ("consume-rest-api", {"uri": "https://c.example", "headers": {"Bad Name": "x"}},
         [(("headers", "Bad Name", "[key]"),
           "String should match pattern '^[!#$%&'*+.^_`|~0-9A-Za-z-]+$'")]),
        ("manual-task", {"title": "t", "outcomes": []},
         [(("outcomes",), "List should have at least 1 item after validation, not 0")]),
        ("manual-task", {"title": "t", "outcomes": ["ok", "ok"]},
         [(("outcomes",), "duplicate values: ['ok']")]),
        ("manual-task", {"title": "t", "outcomes": ["approve", "reject"],
                         "failureOutcomes": ["reject", "refuse"]},
         [(("failureOutcomes",), "not among outcomes: ['refuse']")]),
        ("manual-task", {"title": "t", "failureOutcomes": ["reject"]},
         [(("failureOutcomes",), "not among outcomes: ['reject']")]),
        ("wait", {}, [((), "exactly one of 'durationMs' or 'until' is required")]),
        ("wait", {"durationMs": 5, "until": "deadline"},
         [((), "exactly one of 'durationMs' or 'until' is required")]),
        ("wait", {"durationMs": -1},
         [(("durationMs",), "Input should be greater than or equal to 0")]),
        ("wait", {"until": "tomorrow"}, [(("until",), "Input should be 'deadline'")]),
        ("wait", {"durationMs": 5, "offsetMs": 5}, [((), "offsetMs requires until")]),
        ("generate-production-files", {"model": "m", "fileFormat": "step", "target": "order"},
         [(("fileFormat",), "Input should be 'stl', '3mf' or 'obj'"),
          (("target",), "Input should be 'product' or 'part'")]),
        ("generate-production-files", {"model": "m", "resolution": 2, "filter": "(?=a)"},
         [(("filter",), "lookarounds are not supported: they are not linear-time (RE2 syntax)"),
          (("resolution",), "Input should be greater than or equal to 3")]),
        ("slice", {"profile": "p", "settings": {"layers": [1, 2]}},
         [(("settings",), "setting 'layers' must be a string, number or boolean")]),
        ("slice", {"profile": ""}, [(("profile",), "String should have at least 1 character")]),
    ],
)  # fmt: skip
def test_invalid_payloads_are_refused_at_their_path(
    handler: str, payload: dict[str, Any], expected: list[Any]
) -> None:
    # given a payload breaking its handler's model / when validated / then each error is named
    assert payload_errors(handler, payload) == expected


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("(?=zip)", f"lookarounds are not supported: they are {NOT_LINEAR}"),
        ("(?!tmp)", f"lookarounds are not supported: they are {NOT_LINEAR}"),
        ("(?<=a)b", f"lookarounds are not supported: they are {NOT_LINEAR}"),
        ("(?<!a)b", f"lookarounds are not supported: they are {NOT_LINEAR}"),
        (r"(a)\1", f"backreferences are not supported: they are {NOT_LINEAR}"),
        (r"(?P<n>a)(?P=n)", f"backreferences are not supported: they are {NOT_LINEAR}"),
        (r"(?<n>a)\k<n>", f"backreferences are not supported: they are {NOT_LINEAR}"),
        ("(", "invalid regular expression: missing ): ("),
        ("a{2,1}", "invalid regular expression: invalid repetition size: {2,1}"),
        ("", "String should have at least 1 character"),
    ],
)
@pytest.mark.parametrize("handler", ["asset-email", "slice"], ids=["asset-email", "slice"])
def test_regex_filters_must_compile_under_re2(handler: str, pattern: str, message: str) -> None:
    # given a filter RE2 cannot run in linear time, or no regex at all
    payload = {**ASSET_EMAIL, "filter": pattern} if handler == "asset-email" else {
        "profile": "p", "filter": pattern}  # fmt: skip
    # when validated / then the filter is refused with the reason
    assert payload_errors(handler, payload) == [(("filter",), message)]


@pytest.mark.parametrize(
    ("handler", "payload", "loc"),
    [
        ("send-email", {"recipient": "a@x.example\r\nBcc: x@evil.example", **EMAIL},
         ("recipient",)),
        ("send-email", {"recipient": "a@x.example", **EMAIL, "subject": "Hi\n{order.name}"},
         ("subject",)),
        ("send-email", {"recipient": "a@x.example", **EMAIL, "bcc": ["b@x.example\n"]}, ("bcc", 0)),
        ("asset-email", {**ASSET_EMAIL, "recipients": ["{customerEmail}\r"]}, ("recipients", 0)),
        ("consume-rest-api", {"uri": "https://c.example/\r\nHost: evil"}, ("uri",)),
        ("consume-rest-api", {"uri": "https://c.example", "headers": {"X-A": "1\r\nX-B: 2"}},
         ("headers", "X-A")),
        ("manual-task", {"title": "Check\nthis"}, ("title",)),
    ],
)  # fmt: skip
def test_header_fields_refuse_line_breaks(
    handler: str, payload: dict[str, Any], loc: tuple[Any, ...]
) -> None:
    # given a header-like field with CR or LF / when validated / then it is refused
    assert payload_errors(handler, payload) == [(loc, "must not contain CR or LF")]


def test_html_bodies_may_span_lines() -> None:
    # given a multi-line HTML body / when validated / then it is fine
    payload = {"recipient": "a@x.example", "subject": "Hi", "body": "<p>a</p>\r\n<p>b</p>"}
    assert payload_errors("send-email", payload) == []


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        ("send-email", {"recipient": HEADER, "recipients": HEADER, "subject": HEADER,
                        "body": HTML, "cc": HEADER, "bcc": HEADER}),
        ("asset-email", {"recipients": HEADER, "subject": HEADER, "body": HTML}),
        ("consume-rest-api", {"uri": HEADER, "headers": HEADER}),
        ("manual-task", {"title": TEXT, "description": TEXT}),
        ("wait", {}),
        ("generate-production-files", {}),
        ("slice", {}),
    ],
)  # fmt: skip
def test_template_fields_name_how_each_field_renders(
    handler: str, expected: dict[str, TemplateKind]
) -> None:
    # given a built-in payload model / when its template fields are asked / then
    assert template_fields(BUILTIN_PAYLOADS[handler]) == expected
