"""How an audit entry is encoded and hashed, and the check that keeps clear text out of it.

The hashed body of entry ``n`` is the canonical JSON (sorted keys, no spaces, ASCII only, no
NaN) of ``{seq, at, kind, subject, issi, data}``; :func:`entry_hash` computes it from the
values, :func:`entry_hash_of_json` assembles the same text around ``data``'s one encoding (the
writer's fast path, pinned equal by ``tests/gateway/test_audit_chain.py``). Split from
:mod:`gateway.audit`, which re-exports the public names.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from json.encoder import encode_basestring_ascii
from typing import Any, Final

# Keys whose value, when a plain string, would be clear text from a person: refused.
_CLEAR_TEXT_KEYS: Final = frozenset({"text", "free_text", "payload", "reason_text"})


class PersonalDataError(ValueError):
    """An audit ``data`` object held clear text where only a digest may go."""


# What json.dumps(value, sort_keys=True, ...) builds per call, built once (encode() keeps no state).
_CANONICAL_ENCODER: Final = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
)


def canonical_json(value: object) -> str:
    """Deterministic JSON: sorted keys, no spaces, ASCII only, no NaN."""
    return _CANONICAL_ENCODER.encode(value)


def entry_hash(
    prev_hash: str,
    *,
    seq: int,
    at: float,
    kind: str,
    subject: str,
    issi: int | None,
    data: Mapping[str, Any],
) -> str:
    """``sha256(prev_hash || canonical JSON of the entry)`` as hex."""
    body = canonical_json(
        {
            "seq": seq,
            "at": float(at),
            "kind": kind,
            "subject": subject,
            "issi": issi,
            "data": data,
        }
    )
    return hashlib.sha256(prev_hash.encode("ascii") + body.encode("ascii")).hexdigest()


def entry_hash_of_json(
    prev_hash: str,
    *,
    seq: int,
    at: float,
    kind: str,
    subject: str,
    issi: int | None,
    data_json: str,
) -> str:
    """:func:`entry_hash` from ``data_json``, the canonical JSON of the data *as stored*.

    Equal to ``entry_hash(..., data=json.loads(data_json))`` whenever ``data_json`` is a fixed
    point of ``canonical_json(json.loads(...))`` — true of anything :func:`canonical_json`
    made from str-keyed dicts, lists, tuples, str, int, float, bool and None. The scalars are
    encoded as ``json.dumps(..., ensure_ascii=True, allow_nan=False)`` does, so a NaN or
    infinite ``at`` raises ``ValueError`` as there.
    """
    at_value = float(at)
    if not math.isfinite(at_value):
        raise ValueError(f"Out of range float values are not JSON compliant: {at_value!r}")
    # Keys in sorted order, as canonical_json would emit them: at, data, issi, kind, seq, subject.
    body = (
        f'{{"at":{at_value!r},"data":{data_json},"issi":{_scalar_json(issi)},'
        f'"kind":{_scalar_json(kind)},"seq":{_scalar_json(seq)},'
        f'"subject":{_scalar_json(subject)}}}'
    )
    return hashlib.sha256((prev_hash + body).encode("ascii")).hexdigest()


def _scalar_json(value: object) -> str:
    """``canonical_json(value)`` for one scalar, without the encoder's set-up cost."""
    if type(value) is str:
        return encode_basestring_ascii(value)
    if type(value) is int:
        return int.__repr__(value)
    if value is None:
        return "null"
    return canonical_json(value)


# Exact types whose canonical JSON decodes to an equal value that re-encodes to the same text.
_PLAIN_LEAVES: Final = frozenset({str, int, float, bool, type(None)})


def _refuse_clear_text(value: object, path: str = "data") -> bool:
    """Raise :class:`PersonalDataError` for a str/bytes under a :data:`_CLEAR_TEXT_KEYS` key
    at any depth (the path names the first one, depth first); recurses into containers only.

    Returns whether ``value`` is *plain*: only dicts with exact-str keys, lists, tuples and
    :data:`_PLAIN_LEAVES` — then its canonical JSON is the one its stored form re-encodes to.
    """
    if type(value) is dict:
        return _refuse_in_mapping(value, path)
    if type(value) is list or type(value) is tuple:
        return _refuse_in_items(value, path)
    if type(value) in _PLAIN_LEAVES:
        return True
    # Subclasses and other mappings get the same refusal, and their hash the long way.
    if isinstance(value, Mapping):
        _refuse_in_mapping(value, path)
    elif isinstance(value, list | tuple):
        _refuse_in_items(value, path)
    return False


def _refuse_in_mapping(value: Mapping[Any, Any], path: str) -> bool:
    plain = True
    for key, item in value.items():
        if type(key) is not str:
            plain = False
        if key in _CLEAR_TEXT_KEYS and isinstance(item, str | bytes):
            raise PersonalDataError(f"{path}.{key}: use redact_text(), not clear text")
        if type(item) not in _PLAIN_LEAVES:
            plain = _refuse_clear_text(item, f"{path}.{key}") and plain
    return plain


def _refuse_in_items(value: list[Any] | tuple[Any, ...], path: str) -> bool:
    plain = True
    for index, item in enumerate(value):
        if type(item) not in _PLAIN_LEAVES:
            plain = _refuse_clear_text(item, f"{path}[{index}]") and plain
    return plain
