"""RFC 8785 canonical JSON."""

from __future__ import annotations

import json
import math
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from testigo.vault.canonical import canonical_json, parse_json

SAFE_INT = 2**53 - 1

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-SAFE_INT, max_value=SAFE_INT)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=30,
)


def _shuffled(value: Any, rng: random.Random) -> Any:
    """The same JSON value with every object's keys in another insertion order."""
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: _shuffled(v, rng) for k, v in items}
    if isinstance(value, list):
        return [_shuffled(v, rng) for v in value]
    return value


def _has_big_float(value: Any) -> bool:
    if isinstance(value, float):
        return abs(value) >= 2**53
    if isinstance(value, dict):
        return any(_has_big_float(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_big_float(v) for v in value)
    return False


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_round_trip_is_idempotent(value: Any) -> None:
    encoded = canonical_json(value)
    encoded.decode("utf-8")  # always valid UTF-8
    decoded = parse_json(encoded)
    assert decoded == value
    assert canonical_json(decoded) == encoded
    if not _has_big_float(value):
        # Python's own parser agrees, except on floats beyond 2**53 (see parse_json).
        assert json.loads(encoded) == value
        assert canonical_json(json.loads(encoded)) == encoded


def test_big_floats_round_trip_through_parse_json() -> None:
    value = 4.893869200888751e16
    encoded = canonical_json(value)
    assert encoded == b"48938692008887510"  # ECMAScript form: no exponent below 1e21
    assert isinstance(json.loads(encoded), int)
    with pytest.raises(ValueError, match="range JSON numbers hold exactly"):
        canonical_json(json.loads(encoded))
    assert parse_json(encoded) == value
    assert canonical_json(parse_json(encoded)) == encoded


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a":1,"a":2}', "duplicate key"),
        ("[NaN]", "NaN"),
        ("-Infinity", "Infinity"),
        ("{", "not valid JSON"),
        (b"\xff", "UTF-8"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
)
def test_parse_json_is_strict(text: str | bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_json(text)


@settings(max_examples=200, deadline=None)
@given(json_values, st.integers())
def test_key_order_does_not_matter(value: Any, seed: int) -> None:
    assert canonical_json(_shuffled(value, random.Random(seed))) == canonical_json(value)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_no_insignificant_whitespace(value: Any) -> None:
    encoded = canonical_json(value)
    # The same value as Python's own encoder produces, with no white space between tokens.
    assert parse_json(encoded) == json.loads(json.dumps(value, sort_keys=True))
    assert b"\n" not in encoded


def test_rfc8785_examples() -> None:
    assert canonical_json({"b": 1, "a": [1.0, 2.5e-7, None, True, False]}) == (
        b'{"a":[1,2.5e-7,null,true,false],"b":1}'
    )
    # Keys sort by UTF-16 code units: U+10000 (a surrogate pair, D800 DC00) before U+FB33.
    assert canonical_json({"\ufb33": 1, "\U00010000": 2, "a": 3}) == (
        '{"a":3,"\U00010000":2,"\ufb33":1}'.encode()
    )
    assert canonical_json("\u20ac\n\x1f") == b'"\xe2\x82\xac\\n\\u001f"'
    assert canonical_json(1e21) == b"1e+21"
    assert canonical_json(-0.0) == b"0"
    assert canonical_json(333333333.3333333) == b"333333333.3333333"
    assert canonical_json((1, 2)) == b"[1,2]"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (math.nan, r"\$ is nan"),
        ({"a": [1, math.inf]}, r"\$\['a'\]\[1\] is inf"),
        ({1: "x"}, "keys must be strings"),
        ({"k": b"bytes"}, r"type bytes.*base64"),
        ([{1, 2}], r"\$\[0\] has type set"),
        (object(), "has type object"),
        (2**53, "range JSON numbers hold exactly"),
        (-(2**60), "range JSON numbers hold exactly"),
        ("\ud800", "lone surrogate"),
        ({"\udfff": 1}, "lone surrogate"),
    ],
)
def test_unencodable_values_are_value_errors(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        canonical_json(value)


def test_deep_nesting_is_a_value_error() -> None:
    value: Any = []
    for _ in range(100_000):
        value = [value]
    with pytest.raises(ValueError, match="nested too deeply"):
        canonical_json(value)


_fast_domain = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53 - 1), max_value=2**53 - 1)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=30,
)


@given(_fast_domain)
def test_fast_path_is_byte_identical_to_rfc8785(value: object) -> None:
    """The standard-library fast path must never disagree with the reference implementation."""
    import rfc8785

    from testigo.vault.canonical import _fast_canonical

    fast = _fast_canonical(value)
    try:
        reference = rfc8785.dumps(value)
    except (ValueError, TypeError):
        assert fast is None  # e.g. lone surrogates: the fast path must refuse them too
        return
    assert fast is None or fast == reference
