"""The published key set: RFC 7638 kids, strict reading, accepted by a standard JOSE library."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from joserfc import jws
from joserfc.jwk import KeySet, OKPKey
from licensing_support import KeyPair, new_keypair

from licensing.jwks import (
    InvalidKeySet,
    PublishedKey,
    build_jwks,
    jwk_thumbprint,
    parse_jwks,
    public_jwk,
)


def test_thumbprint_matches_rfc_8037_example() -> None:
    # RFC 8037 appendix A.3: the thumbprint of the A.2 public key.
    x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    raw = base64.urlsafe_b64decode(x + "=")
    assert jwk_thumbprint(raw) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_kid_agrees_with_joserfc_thumbprint(keypair: KeyPair) -> None:
    jwk = public_jwk(keypair.public)
    assert OKPKey.import_key(jwk).thumbprint() == jwk["kid"] == keypair.kid


# The issue fixes alg "EdDSA" in the published keys; RFC 9864 (2025) deprecates it in favour of
# the fully specified "Ed25519", and joserfc warns about it.
@pytest.mark.filterwarnings("ignore:EdDSA is deprecated:joserfc.errors.SecurityWarning")
def test_joserfc_accepts_the_set_and_verifies_with_it(keypair: KeyPair) -> None:
    revoked = new_keypair()
    document = build_jwks(
        [PublishedKey(keypair.public), PublishedKey(revoked.public, datetime.now(UTC), "x")]
    )
    key_set = KeySet.import_key_set(json.loads(json.dumps(document)))
    assert [key.kid for key in key_set.keys] == [keypair.kid]
    private = OKPKey.import_key(keypair.private, parameters={"kid": keypair.kid})
    compact = jws.serialize_compact({"alg": "EdDSA", "kid": keypair.kid}, b"hello", private,
                                    algorithms=["EdDSA"])
    token = jws.deserialize_compact(compact, key_set, algorithms=["EdDSA"])
    assert token.payload == b"hello"


def test_revoked_keys_are_listed_apart_and_read_back(keypair: KeyPair) -> None:
    when = datetime(2026, 5, 1, 12, tzinfo=UTC)
    document = build_jwks([PublishedKey(keypair.public, when, "compromise")])
    assert document["keys"] == []
    assert document["revoked_keys"][0]["kid"] == keypair.kid
    (key,) = parse_jwks(json.dumps(document))
    assert (key.kid, key.revoked_at, key.revocation_reason) == (keypair.kid, when, "compromise")


@pytest.mark.parametrize(
    "change",
    [
        {"kid": "A" * 43},
        {"kty": "EC"},
        {"crv": "X25519"},
        {"alg": "ES256"},
        {"use": "enc"},
        {"x": "AAAA"},
        {"x": 5},
    ],
)
def test_untrustworthy_keys_are_refused(keypair: KeyPair, change: dict) -> None:  # type: ignore[type-arg]
    jwk = public_jwk(keypair.public) | change
    with pytest.raises(InvalidKeySet):
        parse_jwks({"keys": [jwk]})


@pytest.mark.parametrize(
    "document",
    ["not json", "[]", '{"keys": {}}', '{"keys": [], "revoked_keys": 1}', '{"keys": [1]}'],
)
def test_malformed_key_sets_are_refused(document: str) -> None:
    with pytest.raises(InvalidKeySet):
        parse_jwks(document)
