"""The fast split (C base64 in strict mode) accepts exactly what the strict slow path accepts."""

from __future__ import annotations

import hashlib
import random
import string
import uuid
from datetime import UTC, datetime

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from licensing.jwks import jwk_thumbprint
from licensing.numbers import new_licence_number
from licensing.token import (
    Licence,
    TokenError,
    _split_slowly,
    b64url_decode,
    decode_licence,
    sign_licence,
    split_token,
)

ALPHABET = string.ascii_letters + string.digits + "-_+/=. \n*é\x00"


def _token() -> str:
    private_key = Ed25519PrivateKey.generate()
    raw = private_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    licence = Licence(
        licence_id=str(uuid.uuid4()),
        number=new_licence_number(),
        product="OFFICE-HOME-2024-WIN",
        edition="Home 2024",
        seats=1,
        order="CPT-2026-000001",
        partner="numeriland",
        buyer="camille@example.com",
        issued_at=datetime.now(UTC).replace(microsecond=0),
        expires_at=None,
        product_key_sha256=hashlib.sha256(b"key").hexdigest(),
    )
    return sign_licence(licence, private_key, jwk_thumbprint(raw))


def _slow(token: str) -> tuple[str, bytes, bytes] | None:
    try:
        kid, payload, signature = _split_slowly(token, "CPT1")
        decoded = b64url_decode(signature)
        return (kid, b64url_decode(payload), decoded) if len(decoded) == 64 else None
    except TokenError:
        return None


def _fast(token: str) -> tuple[str, bytes, bytes] | None:
    try:
        parsed = split_token(token)
    except TokenError:
        return None
    return parsed.kid, parsed.payload, parsed.signature


def test_fast_and_slow_splits_agree_on_mutated_tokens() -> None:
    rng = random.Random(20261124)
    token = _token()
    assert _fast(token) == _slow(token) is not None
    for _ in range(5000):
        chars, position, roll = list(token), rng.randrange(len(token)), rng.random()
        if roll < 0.6:
            chars[position] = rng.choice(ALPHABET)
        elif roll < 0.8:
            del chars[position]
        else:
            chars.insert(position, rng.choice(ALPHABET))
        mutated = "".join(chars)
        assert _fast(mutated) == _slow(mutated), repr(mutated)


def test_licences_built_by_the_fast_path_equal_validated_ones() -> None:
    parsed = split_token(_token())
    fast = decode_licence(parsed.payload)
    assert fast == Licence(**{name: getattr(fast, name) for name in Licence.__dataclass_fields__})


def test_a_valid_verdict_built_fast_is_an_ordinary_frozen_verdict() -> None:
    import dataclasses

    import pytest

    from licensing.token import Reason
    from licensing.verify import KeyRing, Status, Verdict, verify

    private_key = Ed25519PrivateKey.generate()
    raw = private_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    from licensing.jwks import PublishedKey

    kid = jwk_thumbprint(raw)
    token = sign_licence(decode_licence(split_token(_token()).payload), private_key, kid)
    verdict = verify(token, KeyRing([PublishedKey(raw)]))
    expected = Verdict(Status.VALID, Reason.OK, decode_licence(split_token(token).payload), kid)
    assert verdict == expected and repr(verdict) == repr(expected) and verdict.valid
    assert verdict.to_dict() == expected.to_dict()
    with pytest.raises(dataclasses.FrozenInstanceError):
        verdict.kid = "other"  # type: ignore[misc]
