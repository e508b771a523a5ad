"""Build Stripe webhook deliveries signed exactly as Stripe signs them."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any

WEBHOOK_SECRET = "whsec_comptoir_test_" + "0" * 24


def signature_header(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """Return `t=<ts>,v1=<hex HMAC-SHA256 of "<ts>.<payload>">`, Stripe's v1 scheme."""
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), b"%d." % ts + payload, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def make_event(event_type: str, obj: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    """Wrap an API object in a Stripe event envelope."""
    return {
        "id": event_id or "evt_" + secrets.token_hex(12),
        "object": "event",
        "api_version": "2025-01-27.acacia",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
        "data": {"object": obj},
    }


def signed_delivery(
    event: dict[str, Any] | bytes,
    secret: str = WEBHOOK_SECRET,
    timestamp: int | None = None,
) -> tuple[bytes, dict[str, str]]:
    """Return the body and headers Stripe would POST for this event."""
    payload = event if isinstance(event, bytes) else json.dumps(event, indent=2).encode()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Stripe-Signature": signature_header(payload, secret, timestamp),
    }
    return payload, headers
