"""Webhook signatures, Stripe-style: `Comptoir-Signature: t=<unix seconds>,v1=<hex>` where the
hex is HMAC-SHA256 under the endpoint's secret of `<t>.<body>`. During a rotation the header
carries one v1 per live secret. `verify` is what a receiver does (docs/webhooks.md)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

HEADER = "Comptoir-Signature"
TOLERANCE_SECONDS = 300
PREFIX = "whsec_"


def new_secret() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def header(secrets_: list[str], body: bytes, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    return ",".join([f"t={t}", *(f"v1={signature(s, t, body)}" for s in secrets_)])


def verify(secret: str, body: bytes, value: str, *, now: float | None = None,
           tolerance: int = TOLERANCE_SECONDS) -> bool:
    """Whether a received header signs this body with this secret, recently enough."""
    parts = [p.partition("=") for p in value.split(",")]
    stamps = [v for k, _, v in parts if k.strip() == "t"]
    if len(stamps) != 1 or not stamps[0].isdigit():
        return False
    t = int(stamps[0])
    if abs((time.time() if now is None else now) - t) > tolerance:
        return False
    expected = signature(secret, t, body)
    return any(hmac.compare_digest(expected, v.strip()) for k, _, v in parts if k.strip() == "v1")
