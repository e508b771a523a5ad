"""TOTP second factor: secrets sealed at rest, provisioning URIs, code checks, QR codes."""

from __future__ import annotations

import base64
import binascii
import hmac
import io
import os
import re
import time
from datetime import UTC, datetime

import pyotp
import qrcode
import qrcode.image.svg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app

# A distinct associated-data prefix, so a sealed TOTP secret can never pass for a product key
# (both are sealed under PRODUCT_KEYS_KEY); the owner after it is the user's id.
CONTEXT = "comptoir:totp:v1:"
SECRET_BYTES = 20  # 160 bits, RFC 4226's recommendation; 32 base32 characters
CODE_RE = re.compile(r"^[0-9]{6}$")


class TotpError(ValueError):
    """A sealed TOTP secret that cannot be opened (wrong key, wrong owner or damaged)."""


def _aead() -> AESGCM:
    raw = base64.urlsafe_b64decode(current_app.config["PRODUCT_KEYS_KEY"])
    if len(raw) != 32:
        raise ValueError("PRODUCT_KEYS_KEY must be 32 bytes, urlsafe base64")
    return AESGCM(raw)


def new_secret() -> str:
    """A fresh base32 TOTP secret."""
    return base64.b32encode(os.urandom(SECRET_BYTES)).decode()


def seal_secret(secret: str, owner: str) -> str:
    """Encrypt a base32 secret for one owner: 64 URL-safe characters (nonce, ciphertext, tag)."""
    nonce = os.urandom(12)
    sealed = nonce + _aead().encrypt(nonce, base64.b32decode(secret), (CONTEXT + owner).encode())
    return base64.urlsafe_b64encode(sealed).decode().rstrip("=")


def open_secret(sealed: str, owner: str) -> str:
    """Decrypt a sealed secret back to base32; TotpError if it is not this owner's."""
    try:
        raw = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
        plain = _aead().decrypt(raw[:12], raw[12:], (CONTEXT + owner).encode())
    except (InvalidTag, binascii.Error, ValueError) as exc:
        raise TotpError("the TOTP secret cannot be opened") from exc
    return base64.b32encode(plain).decode()


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)


def verify_code(secret: str, code: str) -> bool:
    """Check a six-digit code, accepting the neighbouring 30-second steps for clock drift."""
    return matching_step(secret, code) is not None


def matching_step(secret: str, code: str) -> int | None:
    """The 30-second step whose code this is (now, or one step either side), else None."""
    code = re.sub(r"\s", "", code or "")
    if not CODE_RE.match(code):
        return None
    generator, now = pyotp.TOTP(secret), time.time()
    for offset in (0, -1, 1):
        moment = now + offset * generator.interval
        if hmac.compare_digest(generator.at(moment), code):
            return int(generator.timecode(datetime.fromtimestamp(moment, UTC)))
    return None


def grouped(secret: str) -> str:
    """The secret in groups of four, easier to type by hand."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def qr_data_uri(text: str) -> str:
    """An SVG QR code of a text as a data: URI for an <img>."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, border=2)
    out = io.BytesIO()
    image.save(out)
    return "data:image/svg+xml;base64," + base64.b64encode(out.getvalue()).decode()
