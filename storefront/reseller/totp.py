"""TOTP second factor: secrets sealed at rest, provisioning URIs, code checks, QR codes."""

from __future__ import annotations

import base64
import binascii
import io
import os
import re

import pyotp
import qrcode
import qrcode.image.svg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app

# A distinct associated-data prefix, so a sealed TOTP secret can never pass for a product key
# (both are sealed under PRODUCT_KEYS_KEY).
CONTEXT = "comptoir:reseller-totp:v1:"
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
    code = re.sub(r"\s", "", code or "")
    return bool(CODE_RE.match(code)) and pyotp.TOTP(secret).verify(code, valid_window=1)


def grouped(secret: str) -> str:
    """The secret in groups of four, easier to type by hand."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def qr_data_uri(text: str) -> str:
    """An SVG QR code of a text as a data: URI for an <img>."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, border=2)
    out = io.BytesIO()
    image.save(out)
    return "data:image/svg+xml;base64," + base64.b64encode(out.getvalue()).decode()
