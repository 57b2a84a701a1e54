"""The partner's words in an error body, as a task failure reason shows them."""

from __future__ import annotations

from typing import Any

import pytest

from fabflow.connectors.calls import partner_message


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"detail": "Invalid token."}, "Invalid token."),
        (
            {"offerId": ['Invalid pk "9" - object does not exist.']},
            'offerId: Invalid pk "9" - object does not exist.',
        ),
        ({"non_field_errors": ["Basket is empty."]}, "Basket is empty."),
        ({"lines": [{"quantity": ["Must be at least 1."]}]}, "lines.quantity: Must be at least 1."),
        ({"error": "The API code is not valid."}, "The API code is not valid."),
        (
            {"errors": [{"message": "Unknown finish."}, {"message": "Unknown material."}]},
            "Unknown finish.; Unknown material.",
        ),
        ({"Message": "An error has occurred."}, "An error has occurred."),
        ("<html><body><h1>503 Service Unavailable</h1></body></html>", "503 Service Unavailable"),
        ("upstream   connect error\n", "upstream connect error"),
        ({}, ""),
        (None, ""),
    ],
)
def test_the_partners_message_is_read_from_its_error_body(body: Any, said: str) -> None:
    assert partner_message(body) == said


def test_a_long_message_is_cut() -> None:
    assert len(partner_message({"detail": "x" * 5000})) == 500
