"""Helpers shared by the vault tests."""

from __future__ import annotations

import base64
import secrets
import socket

S3_CREDENTIALS = {"VAULT_S3_ACCESS_KEY_ID": "testing", "VAULT_S3_SECRET_ACCESS_KEY": "testing"}


def new_vault_key(key_id: str = "v1") -> str:
    """Return one keyring entry with a fresh random key."""
    return f"{key_id}:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def free_port() -> int:
    """Return a loopback TCP port nobody listens on (for outage tests)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
