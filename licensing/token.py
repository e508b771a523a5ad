"""Licence tokens: `CPT1.<kid>.<payload>.<signature>`, signed with Ed25519 over the exact text.

This module imports only the standard library and `cryptography`, so a partner can copy the
`licensing` pure modules (token, numbers, jwks, verify) and verify licences offline.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from licensing.numbers import check_symbol_matches, is_canonical_licence_number

VERSION = 1
PREFIX = "CPT"
LICENCE_TAG = f"{PREFIX}{VERSION}"
MAX_TOKEN_LENGTH = 8192
SIGNATURE_LENGTH = 64
PUBLIC_KEY_LENGTH = 32
MAX_TEXT_LENGTH = 200
MAX_SEATS = 1_000_000

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_B64_VALUE = {ch: i for i, ch in enumerate(_B64_ALPHABET)}
_URLSAFE_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_URLSAFE_TO_STRICT = bytes.maketrans(b"-_+/=", b"+/***")
_PADDING = (b"", b"", b"==", b"=")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_KID = re.compile(r"[A-Za-z0-9_-]{43}")
_TAG = re.compile(r"([A-Za-z]+)(\d+)")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


class Reason(StrEnum):
    """Why a token got its verdict; the string values are part of the public API."""

    OK = "ok"
    EXPIRED = "expired"
    LICENCE_REVOKED = "licence_revoked"
    KEY_REVOKED = "key_revoked"
    TOO_LONG = "too_long"
    BAD_PREFIX = "bad_prefix"
    UNKNOWN_VERSION = "unknown_version"
    BAD_STRUCTURE = "bad_structure"
    BAD_KEY_ID = "bad_key_id"
    BAD_BASE64 = "bad_base64"
    TRAILING_DATA = "trailing_data"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    MALFORMED_PAYLOAD = "malformed_payload"
    NON_CANONICAL_PAYLOAD = "non_canonical_payload"


class TokenError(ValueError):
    """A token (or signed document) that cannot be accepted, with a named reason."""

    def __init__(self, reason: Reason, message: str = "") -> None:
        super().__init__(message or reason.value)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Licence:
    """The signed claims of one licence; field names are the payload's JSON keys."""

    licence_id: str
    number: str
    product: str
    edition: str
    seats: int
    order: str
    partner: str
    buyer: str
    issued_at: datetime
    expires_at: datetime | None
    product_key_sha256: str

    def __post_init__(self) -> None:
        _check_licence(self)

    def is_expired(self, now: datetime) -> bool:
        """Say whether the licence has expired at `now` (perpetual licences never do)."""
        return self.expires_at is not None and now >= self.expires_at

    def to_claims(self) -> dict[str, Any]:
        """Return the JSON-ready claims dictionary."""
        return {
            "buyer": self.buyer,
            "edition": self.edition,
            "expires_at": format_timestamp(self.expires_at) if self.expires_at else None,
            "issued_at": format_timestamp(self.issued_at),
            "licence_id": self.licence_id,
            "number": self.number,
            "order": self.order,
            "partner": self.partner,
            "product": self.product,
            "product_key_sha256": self.product_key_sha256,
            "seats": self.seats,
        }


class ParsedToken(NamedTuple):
    """A token split into its parts; nothing is trusted until the signature is checked."""

    tag: str
    kid: str
    payload: bytes
    signature: bytes
    signing_input: bytes


CLAIM_KEYS = frozenset(field.name for field in fields(Licence))


def format_timestamp(value: datetime) -> str:
    """Format an aware datetime as `YYYY-MM-DDTHH:MM:SSZ` (UTC, whole seconds)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime in a licence")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(value: object) -> datetime:
    """Parse the one timestamp form tokens use, or raise ValueError."""
    if not isinstance(value, str) or not _TIMESTAMP.fullmatch(value):
        raise ValueError(f"timestamp must look like 2026-01-31T12:00:00Z, not {value!r}")
    return datetime.fromisoformat(value)


_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)
_DECODER = json.JSONDecoder()


def canonical_json(value: Any) -> bytes:
    """Serialize as canonical JSON: sorted keys, no whitespace, UTF-8."""
    return _ENCODER.encode(value).encode("utf-8")


def b64url_encode(data: bytes) -> str:
    """Encode base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode canonical unpadded base64url or raise TokenError(bad_base64)."""
    if not _B64URL.fullmatch(text):
        raise TokenError(Reason.BAD_BASE64, "not unpadded base64url")
    return _b64url_decode_checked(text)


def _b64url_decode_checked(text: str) -> bytes:
    """Decode text already known to hold only base64url characters."""
    rest = len(text) % 4
    if rest == 1:
        raise TokenError(Reason.BAD_BASE64, "impossible base64url length")
    # Unused low bits of the last character must be zero, so that each byte string has
    # exactly one text: otherwise a signature could be re-spelled and still verify.
    if rest and _B64_VALUE[text[-1]] & (0b1111 if rest == 2 else 0b11):
        raise TokenError(Reason.BAD_BASE64, "non-canonical base64url")
    padded = text.encode("ascii").translate(_URLSAFE_TO_STANDARD) + _PADDING[rest]
    return binascii.a2b_base64(padded)


def load_public_key(raw: bytes) -> Ed25519PublicKey:
    """Load a raw 32-byte Ed25519 public key, or raise ValueError."""
    if len(raw) != PUBLIC_KEY_LENGTH:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def ed25519_verify(key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    """Verify a raw Ed25519 signature (RFC 8032, strict); the one check every token goes through."""
    if len(signature) != SIGNATURE_LENGTH:
        return False
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def split_token(token: str, tag: str = LICENCE_TAG) -> ParsedToken:
    """Split `<tag>.<kid>.<payload>.<signature>` strictly, or raise TokenError."""
    if not isinstance(token, str):
        raise TokenError(Reason.BAD_STRUCTURE, "a token is text")
    if len(token) > MAX_TOKEN_LENGTH:
        raise TokenError(Reason.TOO_LONG, f"longer than {MAX_TOKEN_LENGTH} characters")
    fast = split_well_formed(token, tag)
    if fast is not None:
        return ParsedToken(tag, *fast)
    # Something is off: find out exactly what, for the reason code.
    kid, payload_text, signature_text = _split_slowly(token, tag)
    payload = b64url_decode(payload_text)
    signature = b64url_decode(signature_text)
    if len(signature) > SIGNATURE_LENGTH:
        raise TokenError(Reason.TRAILING_DATA, "signature longer than 64 bytes")
    if len(signature) < SIGNATURE_LENGTH:
        raise TokenError(Reason.BAD_SIGNATURE, "signature shorter than 64 bytes")
    signing_input = token[: len(token) - len(signature_text) - 1].encode("ascii")
    return ParsedToken(tag, kid, payload, signature, signing_input)


def split_well_formed(
    token: str, tag: str = LICENCE_TAG
) -> tuple[str, bytes, bytes, bytes] | None:
    """Split a well-formed token (at most MAX_TOKEN_LENGTH, checked by the caller) into kid,
    payload, signature and signed bytes, one C pass per part; None when anything is off."""
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != tag or len(parts[3]) != 86 or not parts[2]:
        return None
    kid = parts[1]
    if not _KID.fullmatch(kid):
        return None
    try:
        payload, signature = _b64url_decode_strict(parts[2]), _b64url_decode_strict(parts[3])
    except (ValueError, KeyError):  # binascii.Error and UnicodeError are ValueErrors
        return None
    return kid, payload, signature, token[: len(token) - 87].encode("ascii")


def _b64url_decode_strict(text: str) -> bytes:
    """Decode canonical unpadded base64url; the C decoder's strict mode checks the alphabet."""
    rest = len(text) % 4
    if rest == 1 or (rest and _B64_VALUE[text[-1]] & (0b1111 if rest == 2 else 0b11)):
        raise ValueError("not canonical base64url")
    # "+", "/" and "=" are not base64url: map them to a byte that strict mode refuses.
    padded = text.encode("ascii").translate(_URLSAFE_TO_STRICT) + _PADDING[rest]
    return binascii.a2b_base64(padded, strict_mode=True)


def _split_slowly(token: str, tag: str) -> tuple[str, str, str]:
    """Find what is wrong with a token's shape; return its parts if nothing is."""
    head, dot, _ = token.partition(".")
    if head != tag:
        _raise_bad_tag(head, tag, bool(dot))
    parts = token.split(".")
    if len(parts) < 4:
        raise TokenError(Reason.BAD_STRUCTURE, "expected tag.kid.payload.signature")
    if len(parts) > 4:
        raise TokenError(Reason.TRAILING_DATA, "data after the signature")
    if not _KID.fullmatch(parts[1]):
        raise TokenError(Reason.BAD_KEY_ID, "a key id is 43 base64url characters")
    return parts[1], parts[2], parts[3]


def _raise_bad_tag(head: str, tag: str, has_dot: bool) -> None:
    expected = _TAG.fullmatch(tag)
    found = _TAG.fullmatch(head)
    if has_dot and expected and found and found.group(1) == expected.group(1):
        raise TokenError(Reason.UNKNOWN_VERSION, f"unknown format version {found.group(2)}")
    raise TokenError(Reason.BAD_PREFIX, f"a licence starts with {tag}.")


def encode_signed(tag: str, kid: str, payload: bytes, private_key: Ed25519PrivateKey) -> str:
    """Sign `<tag>.<kid>.<b64url payload>` and append the signature."""
    if not _KID.fullmatch(kid):
        raise ValueError("a key id is 43 base64url characters")
    signing_input = f"{tag}.{kid}.{b64url_encode(payload)}"
    signature = private_key.sign(signing_input.encode("ascii"))
    return f"{signing_input}.{b64url_encode(signature)}"


def sign_licence(licence: Licence, private_key: Ed25519PrivateKey, kid: str) -> str:
    """Return the licence token for these claims, signed by `private_key` under `kid`."""
    return encode_signed(LICENCE_TAG, kid, canonical_json(licence.to_claims()), private_key)


def decode_payload(payload: bytes) -> dict[str, Any]:
    """Parse a canonical JSON object payload, or raise TokenError."""
    try:
        text = payload.decode("utf-8")
        value = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        reason = Reason.TRAILING_DATA if exc.msg == "Extra data" else Reason.MALFORMED_PAYLOAD
        raise TokenError(reason, "payload is not one JSON value") from exc
    except UnicodeDecodeError as exc:
        raise TokenError(Reason.MALFORMED_PAYLOAD, "payload is not UTF-8") from exc
    if not isinstance(value, dict):
        raise TokenError(Reason.MALFORMED_PAYLOAD, "payload is not a JSON object")
    try:
        canonical = _ENCODER.encode(value)
    except ValueError as exc:
        raise TokenError(Reason.MALFORMED_PAYLOAD, "payload has a non-finite number") from exc
    if canonical != text:
        raise TokenError(Reason.NON_CANONICAL_PAYLOAD, "payload is not canonical JSON")
    return value


_TEXT = r'"([^"\\\x00-\x1f\x7f-\x9f]{1,200})"'
_TS = r'"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z)"'
_ID = r'"([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})"'
_NUMBER = r'"(CPT-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{3}[^"\\])"'
# The canonical payload of a licence whose strings need no escaping, matched in one pass. Any
# text this accepts is exactly the canonical JSON of the claims it captures (keys sorted, no
# whitespace, strings verbatim), and the captures already obey every rule of _check_licence
# except the three checked in decode_licence; so the fast path skips a JSON parse, a
# re-serialization and the general validation. Anything else takes the general path.
_CANONICAL_LICENCE = re.compile(
    f'{{"buyer":{_TEXT},"edition":{_TEXT},"expires_at":(?:null|{_TS}),"issued_at":{_TS},'
    f'"licence_id":{_ID},"number":{_NUMBER},"order":{_TEXT},"partner":{_TEXT},'
    f'"product":{_TEXT},"product_key_sha256":"([0-9a-f]{{64}})","seats":([1-9][0-9]{{0,6}})}}'
)
_FIELD_ORDER = ("buyer", "edition", "expires_at", "issued_at", "licence_id", "number", "order",
                "partner", "product", "product_key_sha256", "seats")


def decode_licence(payload: bytes) -> Licence:
    """Parse a licence payload strictly, or raise TokenError with the reason."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TokenError(Reason.MALFORMED_PAYLOAD, "payload is not UTF-8") from exc
    match = _CANONICAL_LICENCE.fullmatch(text)
    if match is None:
        return licence_from_claims(decode_payload(payload))
    values: list[Any] = list(match.groups())
    try:
        values[2] = None if values[2] is None else datetime.fromisoformat(values[2])
        values[3] = datetime.fromisoformat(values[3])
    except ValueError as exc:
        raise TokenError(Reason.MALFORMED_PAYLOAD, str(exc)) from exc
    values[10] = int(values[10])
    if (
        values[10] > MAX_SEATS
        or not check_symbol_matches(values[5])  # the pattern has checked its shape
        or (values[2] is not None and values[2] <= values[3])
    ):
        return licence_from_claims(decode_payload(payload))  # for the precise error
    licence = object.__new__(Licence)
    for set_field, value in zip(_FIELD_SETTERS, values, strict=True):
        set_field(licence, value)
    return licence


# The slot descriptors of a frozen Licence, called directly: the fast path has checked the values.
_FIELD_SETTERS = tuple(getattr(Licence, name).__set__ for name in _FIELD_ORDER)


def licence_from_claims(claims: dict[str, Any]) -> Licence:
    """Build a Licence from decoded claims, or raise TokenError(malformed_payload)."""
    if claims.keys() != CLAIM_KEYS:
        raise TokenError(Reason.MALFORMED_PAYLOAD, "unexpected or missing licence fields")
    try:
        expires = claims["expires_at"]
        return Licence(
            licence_id=claims["licence_id"],
            number=claims["number"],
            product=claims["product"],
            edition=claims["edition"],
            seats=claims["seats"],
            order=claims["order"],
            partner=claims["partner"],
            buyer=claims["buyer"],
            issued_at=parse_timestamp(claims["issued_at"]),
            expires_at=None if expires is None else parse_timestamp(expires),
            product_key_sha256=claims["product_key_sha256"],
        )
    except (TypeError, ValueError) as exc:
        raise TokenError(Reason.MALFORMED_PAYLOAD, str(exc)) from exc


_TEXT_FIELDS = ("product", "edition", "order", "partner", "buyer")


def _check_licence(lic: Licence) -> None:
    """Validate every field so that a Licence always signs and parses back to itself."""
    texts = (lic.product, lic.edition, lic.order, lic.partner, lic.buyer)
    for name, value in zip(_TEXT_FIELDS, texts, strict=True):
        if type(value) is not str or not 0 < len(value) <= MAX_TEXT_LENGTH:
            raise ValueError(f"{name} must be text of 1 to {MAX_TEXT_LENGTH} characters")
    if _CONTROL.search("".join(texts)):
        raise ValueError("text fields must not hold control or surrogate characters")
    if type(lic.licence_id) is not str or not _UUID.fullmatch(lic.licence_id):
        raise ValueError("licence_id must be a lowercase UUID4 string")
    if type(lic.number) is not str or not is_canonical_licence_number(lic.number):
        raise ValueError("number must be a licence number in its CPT-XXXX-XXXX-XXXX form")
    if type(lic.seats) is not int or not 1 <= lic.seats <= MAX_SEATS:
        raise ValueError(f"seats must be an integer from 1 to {MAX_SEATS}")
    digest = lic.product_key_sha256
    if type(digest) is not str or not _SHA256_HEX.fullmatch(digest):
        raise ValueError("product_key_sha256 must be 64 lowercase hex digits")
    _check_moment("issued_at", lic.issued_at)
    if lic.expires_at is not None:
        _check_moment("expires_at", lic.expires_at)
        if lic.expires_at <= lic.issued_at:
            raise ValueError("expires_at must be after issued_at")


def _check_moment(name: str, value: object) -> None:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime")
    if value.microsecond:
        raise ValueError(f"{name} must be whole seconds")


def new_licence_id() -> str:
    """Return a fresh licence id (a UUID4 string)."""
    import uuid  # only to issue: offline verification starts without it

    return str(uuid.uuid4())
