"""Verify licence tokens offline with nothing but the published keys.

Usage without the shop: `python -m licensing.verify TOKEN --keys licence-keys.json
[--revoked revoked.json]`; exit status 0 when the licence is valid, 1 otherwise.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from licensing.jwks import PublishedKey, parse_jwks
from licensing.token import (
    MAX_TOKEN_LENGTH,
    Licence,
    Reason,
    TokenError,
    decode_licence,
    ed25519_verify,
    load_public_key,
    split_token,
    split_well_formed,
)


class Status(StrEnum):
    """The outcome a person acts on."""

    VALID = "valid"
    EXPIRED = "expired"
    REVOKED = "revoked"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The result of verifying a token: status, reason code, and the licence when decoded."""

    status: Status
    reason: Reason
    licence: Licence | None = None
    kid: str | None = None

    @property
    def valid(self) -> bool:
        """Say whether the licence may be honoured."""
        return self.status is Status.VALID

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form used by the HTTP API and the CLI."""
        return {
            "status": self.status.value,
            "reason": self.reason.value,
            "kid": self.kid,
            "licence": self.licence.to_claims() if self.licence else None,
        }


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """A public key ready to verify with, and its revocation time if it was revoked."""

    kid: str
    public_key: Ed25519PublicKey
    revoked_at: datetime | None = None


class KeyLookup(Protocol):
    """Anything that finds a verification key by kid (a KeyRing, a database-backed store)."""

    def get(self, kid: str) -> VerificationKey | None:
        """Return the key named kid, or None."""
        ...


@lru_cache(maxsize=1024)
def cached_public_key(raw: bytes) -> Ed25519PublicKey:
    """Load a raw public key once per process (a kid is a hash of these bytes)."""
    return load_public_key(raw)


class KeyRing:
    """An in-memory set of verification keys, keyed by kid."""

    def __init__(self, keys: Iterable[PublishedKey]) -> None:
        self._keys = {
            key.kid: VerificationKey(key.kid, cached_public_key(key.public_key), key.revoked_at)
            for key in keys
        }

    @classmethod
    def from_jwks(cls, document: Mapping[str, Any] | str | bytes) -> KeyRing:
        """Build a key ring from a JWK Set document (raises InvalidKeySet)."""
        return cls(parse_jwks(document))

    def get(self, kid: str) -> VerificationKey | None:
        """Return the key named kid, or None."""
        return self._keys.get(kid)

    def __len__(self) -> int:
        return len(self._keys)


def verify(
    token: str,
    keys: KeyLookup,
    *,
    now: datetime | None = None,
    revoked: Container[str] = frozenset(),
) -> Verdict:
    """Verify a licence token; `revoked` holds revoked licence ids (e.g. a RevocationList)."""
    parts = (
        split_well_formed(token)
        if type(token) is str and len(token) <= MAX_TOKEN_LENGTH else None
    )
    if parts is None:
        try:
            parts = split_token(token)[1:]
        except TokenError as exc:
            return Verdict(Status.INVALID, exc.reason)
    kid, payload, signature, signing_input = parts
    key = keys.get(kid)
    if key is None:
        return Verdict(Status.INVALID, Reason.UNKNOWN_KEY, kid=kid)
    if not ed25519_verify(key.public_key, signature, signing_input):
        return Verdict(Status.INVALID, Reason.BAD_SIGNATURE, kid=kid)
    try:
        licence = decode_licence(payload)
    except TokenError as exc:
        return Verdict(Status.INVALID, exc.reason, kid=kid)
    if key.revoked_at is not None:
        return Verdict(Status.REVOKED, Reason.KEY_REVOKED, licence, kid)
    if licence.licence_id in revoked:
        return Verdict(Status.REVOKED, Reason.LICENCE_REVOKED, licence, kid)
    if licence.expires_at is not None and licence.is_expired(now or datetime.now(UTC)):
        return Verdict(Status.EXPIRED, Reason.EXPIRED, licence, kid)
    return _valid(licence, kid)


_SET_VERDICT = tuple(getattr(Verdict, name).__set__ for name in ("status", "reason", "licence",
                                                                   "kid"))


def _valid(licence: Licence, kid: str) -> Verdict:
    """Verdict(VALID, OK, licence, kid), built without the frozen dataclass's checked setattr."""
    verdict = object.__new__(Verdict)
    for set_field, value in zip(_SET_VERDICT, (Status.VALID, Reason.OK, licence, kid),
                                strict=True):
        set_field(verdict, value)
    return verdict


def describe(verdict: Verdict) -> str:
    """Render a verdict for people: status, reason, then the decoded licence."""
    lines = [f"status: {verdict.status.value}", f"reason: {verdict.reason.value}"]
    if verdict.kid:
        lines.append(f"key: {verdict.kid}")
    if verdict.licence is not None:
        for name, value in verdict.licence.to_claims().items():
            lines.append(f"{name}: {'-' if value is None else value}")
    return "\n".join(lines)


USAGE = """usage: {prog} [-h] --keys FILE [--revoked FILE] [--json] LICENCE

Verify a licence offline against saved public keys.

  LICENCE          the licence token, or - to read it from stdin
  --keys FILE      saved licence-keys.json
  --revoked FILE   saved /api/v1/licences/revoked answer
  --json           print the verdict as JSON
"""


class _Usage(Exception):
    """A bad command line: the message says what is wrong."""


def _arguments(argv: list[str]) -> dict[str, str | bool | None]:
    """The command line, read by hand: argparse alone (with gettext) costs this command a good
    part of its start-up, and its four options need none of it."""
    found: dict[str, str | bool | None] = {"licence": None, "keys": None, "revoked": None,
                                           "json": False}
    rest = list(argv)
    while rest:
        arg = rest.pop(0)
        name, has_value, value = arg.partition("=")
        if name in ("--keys", "--revoked"):
            if not has_value:
                if not rest:
                    raise _Usage(f"{name} needs a file")
                value = rest.pop(0)
            found[name[2:]] = value
        elif arg == "--json":
            found["json"] = True
        elif arg.startswith("-") and arg != "-":
            raise _Usage(f"unknown option {arg}")
        elif found["licence"] is None:
            found["licence"] = arg
        else:
            raise _Usage(f"one licence at a time, not also {arg!r}")
    if found["licence"] is None:
        raise _Usage("the licence to verify is missing")
    if not found["keys"]:
        raise _Usage("--keys is required")
    return found


def main(argv: list[str] | None = None, prog: str = "python -m licensing.verify") -> int:
    """Verify one token offline from saved documents; return the exit status (0 valid, 1 not,
    1 with a message when the saved documents cannot be read, 2 for a bad command line)."""
    from licensing.jwks import InvalidKeySet
    from licensing.revocations import parse_revocation_list

    argv = sys.argv[1:] if argv is None else argv
    if "-h" in argv or "--help" in argv:
        sys.stdout.write(USAGE.format(prog=prog))
        return 0
    try:
        args = _arguments(argv)
    except _Usage as exc:
        sys.stderr.write(USAGE.format(prog=prog).split("\n", 1)[0] + f"\n{prog}: error: {exc}\n")
        return 2
    text = sys.stdin.read() if args["licence"] == "-" else str(args["licence"])
    try:
        ring = KeyRing.from_jwks(_read(str(args["keys"])))
        revoked: Container[str] = frozenset()
        if args["revoked"]:
            document = json.loads(_read(str(args["revoked"])))["document"]
            revoked = parse_revocation_list(document, ring)
    except (InvalidKeySet, TokenError, ValueError, KeyError, OSError) as exc:
        sys.stderr.write(f"Error: cannot read the saved documents: {exc}\n")
        return 1
    verdict = verify(text.strip(), ring, revoked=revoked)
    out = json.dumps(verdict.to_dict(), indent=2) if args["json"] else describe(verdict)
    sys.stdout.write(out + "\n")
    return 0 if verdict.valid else 1


def _read(path: str) -> bytes:
    with open(path, "rb") as saved:  # not pathlib: the verifier starts with as little as it can
        return saved.read()


if __name__ == "__main__":
    raise SystemExit(main())
