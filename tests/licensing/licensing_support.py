"""Helpers shared by the licensing tests: pure key pairs and licence claims."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from licensing.jwks import PublishedKey, build_jwks, jwk_thumbprint
from licensing.numbers import new_licence_number
from licensing.token import Licence, new_licence_id
from licensing.verify import KeyRing


@dataclass
class KeyPair:
    private: Ed25519PrivateKey
    public: bytes
    kid: str

    def ring(self, revoked_at: datetime | None = None) -> KeyRing:
        return KeyRing([PublishedKey(self.public, revoked_at)])

    def jwks(self) -> dict[str, Any]:
        return build_jwks([PublishedKey(self.public)])


def new_keypair() -> KeyPair:
    private = Ed25519PrivateKey.generate()
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return KeyPair(private, public, jwk_thumbprint(public))


def make_licence(**overrides: Any) -> Licence:
    fields: dict[str, Any] = {
        "licence_id": new_licence_id(),
        "number": new_licence_number(),
        "product": "OFFICE-HOME-2024",
        "edition": "Home 2024",
        "seats": 1,
        "order": "CPT-ORDER-000123",
        "partner": "partner-1",
        "buyer": "buyer-42",
        "issued_at": datetime(2026, 11, 23, 10, 15, tzinfo=UTC),
        "expires_at": None,
        "product_key_sha256": hashlib.sha256(b"XXXXX-XXXXX-XXXXX-XXXXX-XXXXX").hexdigest(),
    }
    fields.update(overrides)
    return Licence(**fields)
