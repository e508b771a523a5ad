"""Publish and read Ed25519 public keys as a JWK Set (RFC 7517, RFC 8037), kid per RFC 7638."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from licensing.token import (
    PUBLIC_KEY_LENGTH,
    TokenError,
    b64url_decode,
    b64url_encode,
    canonical_json,
    format_timestamp,
    parse_timestamp,
)


class InvalidKeySet(ValueError):
    """A JWK Set we refuse to trust (wrong key type, bad x, kid not the thumbprint)."""


@dataclass(frozen=True, slots=True)
class PublishedKey:
    """One public key as published: raw key bytes, and when it was revoked, if it was."""

    public_key: bytes
    revoked_at: datetime | None = None
    revocation_reason: str | None = None

    @property
    def kid(self) -> str:
        """Return the RFC 7638 thumbprint that names this key."""
        return jwk_thumbprint(self.public_key)


def jwk_thumbprint(public_key: bytes) -> str:
    """Return the RFC 7638 SHA-256 thumbprint of an Ed25519 public key, base64url."""
    members = {"crv": "Ed25519", "kty": "OKP", "x": b64url_encode(public_key)}
    return b64url_encode(hashlib.sha256(canonical_json(members)).digest())


def public_jwk(public_key: bytes) -> dict[str, str]:
    """Return the JWK of a verifying key: OKP, Ed25519, use sig, alg EdDSA."""
    if len(public_key) != PUBLIC_KEY_LENGTH:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": b64url_encode(public_key),
        "kid": jwk_thumbprint(public_key),
        "use": "sig",
        "alg": "EdDSA",
    }


def build_jwks(keys: Iterable[PublishedKey]) -> dict[str, Any]:
    """Build the published document: usable keys in `keys`, revoked ones in `revoked_keys`.

    Revoked keys stay out of `keys` so that a standard JOSE library never trusts them; our
    verifier reads `revoked_keys` (an extra member RFC 7517 tells others to ignore) so that
    licences signed by a revoked key report `key_revoked` rather than `unknown_key`.
    """
    usable: list[dict[str, str]] = []
    revoked: list[dict[str, str]] = []
    for key in keys:
        jwk = public_jwk(key.public_key)
        if key.revoked_at is None:
            usable.append(jwk)
        else:
            jwk["revoked_at"] = format_timestamp(key.revoked_at)
            jwk["revocation_reason"] = key.revocation_reason or "unspecified"
            revoked.append(jwk)
    return {"keys": usable, "revoked_keys": revoked}


def parse_jwks(document: Mapping[str, Any] | str | bytes) -> list[PublishedKey]:
    """Read a JWK Set strictly: Ed25519 keys only, each kid equal to its thumbprint."""
    if isinstance(document, str | bytes):
        try:
            document = json.loads(document)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InvalidKeySet("the key set is not JSON") from exc
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise InvalidKeySet("a JWK Set is an object with a keys list")
    revoked_list = document.get("revoked_keys", [])
    if not isinstance(revoked_list, list):
        raise InvalidKeySet("revoked_keys must be a list")
    found: dict[str, PublishedKey] = {}
    for jwk in document["keys"]:
        raw = _read_jwk(jwk)
        found.setdefault(jwk_thumbprint(raw), PublishedKey(raw))
    for jwk in revoked_list:
        raw = _read_jwk(jwk)
        try:
            revoked_at = parse_timestamp(jwk.get("revoked_at"))
        except ValueError as exc:
            raise InvalidKeySet(f"revoked key {jwk.get('kid')}: {exc}") from exc
        reason = str(jwk.get("revocation_reason", "unspecified"))
        # A revocation always wins over the same key listed as usable.
        found[jwk_thumbprint(raw)] = PublishedKey(raw, revoked_at, reason)
    return list(found.values())


def _read_jwk(jwk: object) -> bytes:
    if not isinstance(jwk, Mapping):
        raise InvalidKeySet("a JWK is an object")
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise InvalidKeySet("only OKP Ed25519 keys are accepted")
    if jwk.get("alg", "EdDSA") != "EdDSA" or jwk.get("use", "sig") != "sig":
        raise InvalidKeySet("key is not for EdDSA signatures")
    x = jwk.get("x")
    try:
        raw = b64url_decode(x) if isinstance(x, str) else b""
    except TokenError as exc:
        raise InvalidKeySet("x is not base64url") from exc
    if len(raw) != PUBLIC_KEY_LENGTH:
        raise InvalidKeySet("x must be a 32-byte Ed25519 key")
    if "kid" in jwk and jwk["kid"] != jwk_thumbprint(raw):
        raise InvalidKeySet(f"kid {jwk['kid']!r} is not the RFC 7638 thumbprint of its key")
    return raw
