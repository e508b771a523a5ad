"""Product keys at rest: AES-256-GCM under PRODUCT_KEYS_KEY, bound to the unit they belong to."""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app


def _aead() -> AESGCM:
    raw = base64.urlsafe_b64decode(current_app.config["PRODUCT_KEYS_KEY"])
    if len(raw) != 32:
        raise ValueError("PRODUCT_KEYS_KEY must be 32 bytes, urlsafe base64")
    return AESGCM(raw)


def seal_product_key(product_key: str, context: str) -> bytes:
    """Encrypt a product key; context (the unit's identity) is authenticated with it."""
    nonce = os.urandom(12)
    return nonce + _aead().encrypt(nonce, product_key.encode(), context.encode())


def open_product_key(sealed: bytes, context: str) -> str:
    return _aead().decrypt(sealed[:12], sealed[12:], context.encode()).decode()


def key_digest(product_key: str) -> str:
    return hashlib.sha256(product_key.encode()).hexdigest()
