"""Templates: placeholder parsing and rendering by plain dictionary lookup."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from fabflow.core.templating import SafeHtml, TemplateSyntaxError, placeholders, render

CONTEXT: dict[str, Any] = {
    "order": {"name": "R-1001", "value": 12.5, "deadline": None, "paid": True, "count": 3},
    "customerInfo": {"name": "Ann & <Bob>", "address": {"city": "Ghent"}},
    "customerEmail": "ann@shop.example",
    "products": [{"id": "p1"}],
    "data": {"options": {"color": "red"}},
    "assetOverview": SafeHtml("<ul><li>ring.stl</li></ul>"),
    "orderUrl": "https://fabflow.example/orders/1",
}
DOTTED = ": expected a dotted name such as {order.name}; write '{{' and '}}' for literal braces"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("no placeholders", []),
        ("", []),
        ("{order.name}", ["order.name"]),
        ("Dear {customerInfo.name}, {order.name}", ["customerInfo.name", "order.name"]),
        ("{order.name} and again {order.name}", ["order.name"]),
        ("{a.b.c_d.e1}", ["a.b.c_d.e1"]),
        ("{_private}", ["_private"]),
        ("{{order.name}}", []),
        ("{{{order.name}}}", ["order.name"]),
        ("a }} b {{ c", []),
    ],
)
def test_placeholders_lists_paths_in_order_without_repeats(text: str, expected: list[str]) -> None:
    # given a template / when its placeholders are listed / then
    assert placeholders(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "single '{' at position 0; write '{{' for a literal brace"),
        ("a } b", "single '}' at position 2; write '}}' for a literal brace"),
        ("{order.name}}", "single '}' at position 12; write '}}' for a literal brace"),
        ("{a{b}", "single '{' at position 0; write '{{' for a literal brace"),
        ("{}", "empty placeholder {}"),
        ("{ }", "empty placeholder { }"),
        ("{0}", "invalid placeholder {0}" + DOTTED),
        ("{order.0}", "invalid placeholder {order.0}" + DOTTED),
        ("{order[0]}", "invalid placeholder {order[0]}" + DOTTED),
        ("{order.x()}", "invalid placeholder {order.x()}" + DOTTED),
        ("{ order.name }", "invalid placeholder { order.name }" + DOTTED),
        ("{order..name}", "invalid placeholder {order..name}" + DOTTED),
        ("{x:>10}", "invalid placeholder {x:>10}: format specs and conversions are not supported"),
        ("{x!r}", "invalid placeholder {x!r}: format specs and conversions are not supported"),
        ("{x.y:}", "invalid placeholder {x.y:}: format specs and conversions are not supported"),
        ("{ color: red }", "invalid placeholder { color: red }" + DOTTED),
    ],
)  # fmt: skip
def test_placeholders_rejects_anything_but_dotted_names(text: str, message: str) -> None:
    # given an invalid template / when parsed / then the first problem is named
    with pytest.raises(TemplateSyntaxError) as raised:
        placeholders(text)
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Order {order.name}", "Order R-1001"),
        ("{customerInfo.address.city}", "Ghent"),
        ("{data.options.color}", "red"),
        ("{order.value}", "12.5"),
        ("{order.count}", "3"),
        ("{order.paid}", "true"),
        ("{products}", '[{"id": "p1"}]'),
        ("{data.options}", '{"color": "red"}'),
        ("{{literal}} {order.name}", "{literal} R-1001"),
        ("{customerInfo.name}", "Ann & <Bob>"),
    ],
)
def test_render_resolves_paths_by_dictionary_lookup(text: str, expected: str) -> None:
    # given a template over the context / when rendered as plain text / then
    assert render(text, CONTEXT, html=False, header=False) == (expected, [])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[{order.unknown}]", ("[]", ["order.unknown"])),
        ("[{nothing}]", ("[]", ["nothing"])),
        ("[{order.deadline}]", ("[]", ["order.deadline"])),
        ("[{order.name.first}]", ("[]", ["order.name.first"])),
        ("[{products.id}]", ("[]", ["products.id"])),
        ("{a}{b}{a}", ("", ["a", "b"])),
    ],
)
def test_render_leaves_missing_values_empty_and_reports_them(
    text: str, expected: tuple[str, list[str]]
) -> None:
    # given placeholders without a value (absent, null, or below a non-object)
    # when rendered / then they are empty and listed once each
    assert render(text, CONTEXT, html=False, header=False) == expected


def test_render_never_reads_attributes() -> None:
    # given a context value that is an object with the attribute asked for
    context = {"order": SimpleNamespace(name="secret")}
    # when rendered
    result = render("{order.name}", context, html=False, header=False)
    # then the path is missing: resolution is dictionary lookup only
    assert result == ("", ["order.name"])


def test_render_escapes_values_in_html_but_not_the_template() -> None:
    # given an HTML body with a value holding markup
    text = "<p>Dear {customerInfo.name}</p>"
    # when rendered as HTML / then the value is escaped and the template markup kept
    result = render(text, CONTEXT, html=True, header=False)
    assert result == ("<p>Dear Ann &amp; &lt;Bob&gt;</p>", [])


def test_render_inserts_safe_html_unescaped_in_html() -> None:
    # given a value marked as HTML / when rendered into an HTML body / then it is kept as is
    result = render("{assetOverview}", CONTEXT, html=True, header=False)
    assert result == ("<ul><li>ring.stl</li></ul>", [])


def test_render_escapes_quotes_in_html() -> None:
    # given a value with quotes inside an attribute / when rendered as HTML / then escaped
    result = render('<a title="{x}">', {"x": "\"'"}, html=True, header=False)
    assert result == ('<a title="&quot;&#x27;">', [])


@pytest.mark.parametrize(
    ("text", "context", "message"),
    [
        ("Hi {name}", {"name": "Ann\r\nBcc: x@evil"}, "the value of {name} contains CR or LF"),
        ("Hi {name}", {"name": "Ann\n"}, "the value of {name} contains CR or LF"),
        ("Hi\n{name}", {"name": "Ann"}, "a header field must not contain CR or LF"),
        ("Hi\r", {}, "a header field must not contain CR or LF"),
    ],
)
def test_render_refuses_line_breaks_in_headers(
    text: str, context: dict[str, str], message: str
) -> None:
    # given a header template whose result would hold CR or LF / when rendered / then refused
    with pytest.raises(ValueError) as raised:
        render(text, context, html=False, header=True)
    assert str(raised.value) == message


def test_render_allows_line_breaks_outside_headers() -> None:
    # given a body value with a line break / when rendered as a body / then it is kept
    assert render("{x}", {"x": "a\nb"}, html=False, header=False) == ("a\nb", [])


def test_render_rejects_invalid_templates() -> None:
    # given a template with a format spec / when rendered / then it is a syntax error
    with pytest.raises(TemplateSyntaxError):
        render("{order.name:>10}", CONTEXT, html=False, header=False)
