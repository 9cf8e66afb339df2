"""Canonical JSON (RFC 8785, the JSON Canonicalization Scheme) for everything the ledger hashes.

Two equal JSON values always give the same bytes: keys sorted by their UTF-16 code units, no
insignificant white space, numbers in the ECMAScript shortest form, strings minimally escaped.
Serialisation is delegated to the ``rfc8785`` package; this module adds error messages that say
where in the value the problem is.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import rfc8785

__all__ = ["JSONValue", "canonical_json", "parse_json"]

JSONValue: TypeAlias = (
    bool | int | float | str | Sequence["JSONValue"] | Mapping[str, "JSONValue"] | None
)
"""A value RFC 8785 can encode (lists and tuples both encode as JSON arrays)."""

_MAX_SAFE_INTEGER = 2**53 - 1


def canonical_json(obj: Any) -> bytes:
    """Return the RFC 8785 canonical UTF-8 encoding of ``obj``.

    Accepts ``None``, ``bool``, ``int`` (within ±(2**53 - 1), the range JSON numbers hold
    exactly), finite ``float``, ``str`` (well-formed Unicode), and lists, tuples and dicts of
    those with string keys.

    Raises ``ValueError`` naming the offending location (as a JSONPath such as ``$['a'][2]``)
    for anything else: NaN or infinite floats, out-of-range integers, non-string keys, lone
    surrogates, bytes, sets, arbitrary objects, or nesting too deep to encode.
    """
    fast = _fast_canonical(obj)
    if fast is not None:
        return fast
    try:
        out: bytes = rfc8785.dumps(obj)
    except RecursionError:
        raise ValueError(
            "value is nested too deeply to encode as canonical JSON (RFC 8785)"
        ) from None
    except (ValueError, TypeError):
        # Find the exact place and say what is wrong with it; this path is not hot.
        _explain(obj)
        raise ValueError("value cannot be encoded as canonical JSON (RFC 8785)") from None
    return out


_SURROGATE_START = chr(0xD800)


def _fast_safe(obj: Any) -> bool:
    """True when the standard library's sorted, compact JSON is exactly RFC 8785 for ``obj``.

    That holds for None, booleans, safe integers, and strings made of characters below U+D800
    (where code-point order equals UTF-16 order and no surrogates can appear), in dicts and lists.
    Floats and anything else take the ``rfc8785`` path. Iterative, because it runs on every
    ledger append.
    """
    stack = [obj]
    pop = stack.pop
    push = stack.append
    limit = _MAX_SAFE_INTEGER
    surrogate = _SURROGATE_START
    while stack:
        value = pop()
        kind = type(value)
        if kind is dict:
            for key, item in value.items():
                if type(key) is not str or (not key.isascii() and max(key) >= surrogate):
                    return False
                item_kind = type(item)
                # Scalars are checked here rather than pushed: entries are mostly flat.
                if item_kind is str:
                    if not item.isascii() and max(item) >= surrogate:
                        return False
                elif item_kind is int:
                    if not -limit <= item <= limit:
                        return False
                elif item is None or item is True or item is False:
                    continue
                elif item_kind is dict or item_kind is list or item_kind is tuple:
                    push(item)
                else:
                    return False
        elif kind is list or kind is tuple:
            stack.extend(value)
        elif kind is str:
            if not value.isascii() and max(value) >= surrogate:
                return False
        elif kind is int:
            if not -limit <= value <= limit:
                return False
        elif value is not None and value is not True and value is not False:
            return False
    return True


def _fast_canonical(obj: Any) -> bytes | None:
    if not _fast_safe(obj):
        return None
    try:
        text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (RecursionError, ValueError):
        return None  # too deep or circular: the reference path explains the problem
    return text.encode("utf-8")


def parse_json(data: bytes | str) -> Any:
    """Parse JSON text into the value :func:`canonical_json` encodes back to the same bytes.

    RFC 8785 numbers are IEEE 754 doubles, so a float of magnitude 2**53 or more is written
    without a fraction or exponent (``1e16`` becomes ``10000000000000000``). Python's ``json``
    would read that back as an ``int`` that :func:`canonical_json` refuses; here integers beyond
    ±(2**53 - 1) are read as floats, as every RFC 8785 implementation reads them. The parser is
    also strict: duplicate object keys, ``NaN`` and ``Infinity`` are rejected with
    ``ValueError``, as is text that is not UTF-8.
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("JSON text is not valid UTF-8") from None
    try:
        return json.loads(
            data,
            parse_int=_parse_int,
            parse_constant=_reject_constant,
            object_pairs_hook=_unique_keys,
        )
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc}") from None
    except RecursionError:
        raise ValueError("JSON text is nested too deeply") from None


def _parse_int(text: str) -> int | float:
    value = int(text)
    if -_MAX_SAFE_INTEGER <= value <= _MAX_SAFE_INTEGER:
        return value
    return float(text)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r} in a JSON object")
        out[key] = value
    return out


def _explain(obj: Any) -> None:
    """Raise a ``ValueError`` describing the first value RFC 8785 cannot encode."""
    stack: list[tuple[Any, str]] = [(obj, "$")]
    while stack:
        value, where = stack.pop()
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, int):
            if not -_MAX_SAFE_INTEGER <= value <= _MAX_SAFE_INTEGER:
                raise ValueError(
                    f"integer at {where} is outside the range JSON numbers hold exactly "
                    f"(±{_MAX_SAFE_INTEGER}); encode it as a string"
                )
            continue
        if isinstance(value, float):
            if math.isnan(value) or math.isinf(value):
                raise ValueError(f"number at {where} is {value!r}, which JSON cannot represent")
            continue
        if isinstance(value, str):
            _check_text(value, f"string at {where}")
            continue
        if isinstance(value, (list, tuple)):
            stack.extend((item, f"{where}[{i}]") for i, item in reversed(list(enumerate(value))))
            continue
        if isinstance(value, dict):
            children: list[tuple[Any, str]] = []
            for key, item in value.items():
                if not isinstance(key, str):
                    raise ValueError(
                        f"object at {where} has a key of type {type(key).__name__} ({key!r}); "
                        "JSON object keys must be strings"
                    )
                _check_text(key, f"key {key!r} of the object at {where}")
                children.append((item, f"{where}[{key!r}]"))
            stack.extend(reversed(children))
            continue
        raise ValueError(
            f"value at {where} has type {type(value).__name__}, which JSON cannot represent"
            + (
                "; encode bytes as base64 or hex text"
                if isinstance(value, (bytes, bytearray))
                else ""
            )
        )


def _check_text(text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"{what} contains a lone surrogate (U+{ord(text[exc.start]):04X}); "
            "it is not well-formed Unicode"
        ) from None
