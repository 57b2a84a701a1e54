"""The digest answer of `ultimaker-print` against RFC 7616's own examples (section 3.9.1)."""

from __future__ import annotations

import pytest

from fabflow.connectors.ultimaker import Challenge, Stop

HEADER = (
    'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={algorithm}, '
    'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
    'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
)
CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"


@pytest.mark.parametrize(
    ("algorithm", "response"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_the_answer_matches_rfc_7616(algorithm: str, response: str) -> None:
    challenge = Challenge.parse(HEADER.format(algorithm=algorithm))
    assert challenge is not None
    header = challenge.authorization(
        "GET", "/dir/index.html", "Mufasa", "Circle of Life", nc=1, cnonce=CNONCE
    )
    assert header.startswith('Digest username="Mufasa", realm="http-auth@example.org", ')
    assert f'response="{response}"' in header
    assert 'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"' in header
    assert f'qop=auth, nc=00000001, cnonce="{CNONCE}"' in header


def test_other_schemes_and_unknown_algorithms_are_told_apart() -> None:
    assert Challenge.parse('Basic realm="x"') is None
    assert Challenge.parse('Digest realm="x"') is None  # no nonce
    challenge = Challenge.parse('Digest realm="x", nonce="n", algorithm=SHA-512')
    assert challenge is not None
    with pytest.raises(Stop, match="unsupported digest"):
        challenge.authorization("GET", "/", "u", "p", nc=1)
