"""Signed revocation lists: `CPTR1.<kid>.<payload>.<signature>`, checked offline like licences."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from licensing.token import (
    PREFIX,
    VERSION,
    Reason,
    TokenError,
    canonical_json,
    decode_payload,
    ed25519_verify,
    encode_signed,
    format_timestamp,
    parse_timestamp,
    split_token,
)

if TYPE_CHECKING:
    from licensing.verify import KeyLookup

REVOCATION_TAG = f"{PREFIX}R{VERSION}"


@dataclass(frozen=True, slots=True)
class RevokedEntry:
    """One revoked licence as listed: id, number, when and why."""

    licence_id: str
    number: str
    revoked_at: datetime
    reason: str

    def to_dict(self) -> dict[str, str]:
        """Return the JSON form."""
        return {
            "licence_id": self.licence_id,
            "number": self.number,
            "reason": self.reason,
            "revoked_at": format_timestamp(self.revoked_at),
        }


@dataclass(frozen=True, slots=True)
class RevocationList:
    """Licences revoked between `since` (None: from the start) and `generated_at`."""

    generated_at: datetime
    since: datetime | None
    entries: tuple[RevokedEntry, ...]
    ids: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ids", frozenset(entry.licence_id for entry in self.entries))

    def __contains__(self, licence_id: object) -> bool:
        return licence_id in self.ids

    def __iter__(self) -> Iterator[RevokedEntry]:
        return iter(self.entries)

    def to_claims(self) -> dict[str, Any]:
        """Return the JSON-ready payload."""
        return {
            "generated_at": format_timestamp(self.generated_at),
            "revoked": [entry.to_dict() for entry in self.entries],
            "since": format_timestamp(self.since) if self.since else None,
        }


def sign_revocation_list(
    entries: Iterable[RevokedEntry],
    generated_at: datetime,
    since: datetime | None,
    private_key: Ed25519PrivateKey,
    kid: str,
) -> str:
    """Return the signed document listing these revocations."""
    doc = RevocationList(generated_at.replace(microsecond=0), since, tuple(entries))
    return encode_signed(REVOCATION_TAG, kid, canonical_json(doc.to_claims()), private_key)


def parse_revocation_list(document: str, keys: KeyLookup) -> RevocationList:
    """Check a signed revocation list against `keys` (a KeyLookup); raise TokenError if bad."""
    parsed = split_token(document, REVOCATION_TAG)
    key = keys.get(parsed.kid)
    if key is None:
        raise TokenError(Reason.UNKNOWN_KEY, "revocation list signed by an unknown key")
    if not ed25519_verify(key.public_key, parsed.signature, parsed.signing_input):
        raise TokenError(Reason.BAD_SIGNATURE, "revocation list signature does not verify")
    if key.revoked_at is not None:
        raise TokenError(Reason.KEY_REVOKED, "revocation list signed by a revoked key")
    claims = decode_payload(parsed.payload)
    try:
        since = claims["since"]
        entries = tuple(
            RevokedEntry(
                licence_id=str(item["licence_id"]),
                number=str(item["number"]),
                revoked_at=parse_timestamp(item["revoked_at"]),
                reason=str(item["reason"]),
            )
            for item in claims["revoked"]
        )
        return RevocationList(
            parse_timestamp(claims["generated_at"]),
            None if since is None else parse_timestamp(since),
            entries,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise TokenError(Reason.MALFORMED_PAYLOAD, "not a revocation list") from exc
