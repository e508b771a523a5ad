"""Envelope encryption: a fresh AES-256-GCM data key per backup, wrapped by the vault keyring."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from backups.vault.errors import UnknownVaultKey, VaultConfigError

# Object layout: MAGIC, a 12-byte nonce, then AES-256-GCM ciphertext and its 16-byte tag.
MAGIC = b"CVB1"
NONCE_BYTES = 12
KEY_BYTES = 32
_KEY_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class OpenFailed(Exception):
    """AES-GCM authentication failed or the object is malformed."""


@dataclass(frozen=True)
class Keyring:
    """The vault keys by id; the first one in COMPTOIR_VAULT_KEY wraps new data keys."""

    active_id: str
    keys: dict[str, bytes]

    @classmethod
    def parse(cls, value: str | None) -> Keyring:
        """Parse "v2:<urlsafe b64 of 32 bytes>,v1:<...>"; the first entry is active."""
        if not value or not value.strip():
            raise VaultConfigError("COMPTOIR_VAULT_KEY is empty")
        keys: dict[str, bytes] = {}
        for n, entry in enumerate(value.split(","), start=1):
            key_id, sep, encoded = entry.strip().partition(":")
            if not sep or not _KEY_ID_RE.match(key_id):
                raise VaultConfigError(
                    f"COMPTOIR_VAULT_KEY entry {n}: expected <id>:<base64 key>, id of "
                    "letters, digits, '-' or '_'"
                )
            if key_id in keys:
                raise VaultConfigError(f"COMPTOIR_VAULT_KEY: key id {key_id!r} appears twice")
            try:
                raw = base64.urlsafe_b64decode(encoded.strip() + "=" * (-len(encoded.strip()) % 4))
            except (binascii.Error, ValueError) as exc:
                raise VaultConfigError(f"COMPTOIR_VAULT_KEY: key {key_id!r} is not base64") from exc
            if len(raw) != KEY_BYTES:
                raise VaultConfigError(
                    f"COMPTOIR_VAULT_KEY: key {key_id!r} has {len(raw)} bytes, needs {KEY_BYTES}"
                )
            keys[key_id] = raw
        return cls(active_id=next(iter(keys)), keys=keys)

    def wrap(self, data_key: bytes, backup_id: uuid.UUID) -> tuple[str, bytes]:
        """Wrap a data key under the active vault key; return (key id, nonce + ciphertext)."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.keys[self.active_id]).encrypt(
            nonce, data_key, _wrap_aad(self.active_id, backup_id)
        )
        return self.active_id, nonce + sealed

    def unwrap(self, key_id: str, wrapped: bytes, backup_id: uuid.UUID) -> bytes:
        """Recover a data key wrapped under vault key `key_id` for this backup."""
        try:
            vault_key = self.keys[key_id]
        except KeyError:
            raise UnknownVaultKey(key_id) from None
        try:
            return AESGCM(vault_key).decrypt(
                wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _wrap_aad(key_id, backup_id)
            )
        except InvalidTag as exc:
            raise OpenFailed("the wrapped data key does not authenticate") from exc


def _wrap_aad(key_id: str, backup_id: uuid.UUID) -> bytes:
    return b"comptoir-vault/dek/v1\x00" + key_id.encode() + b"\x00" + backup_id.bytes


def _object_aad(backup_id: uuid.UUID, partner: str) -> bytes:
    return b"comptoir-vault/object/v1\x00" + backup_id.bytes + partner.encode()


def encode_bundle(bundle: dict[str, Any]) -> bytes:
    """Serialise a bundle as compact, sorted JSON."""
    return json.dumps(bundle, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def seal(plaintext: bytes, backup_id: uuid.UUID, partner: str) -> tuple[bytes, bytes]:
    """Encrypt under a fresh data key; return (data key, object bytes)."""
    data_key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(data_key).encrypt(nonce, plaintext, _object_aad(backup_id, partner))
    return data_key, MAGIC + nonce + ciphertext


def open_sealed(data_key: bytes, blob: bytes, backup_id: uuid.UUID, partner: str) -> bytes:
    """Decrypt an object made by `seal`; raise OpenFailed if anything does not authenticate."""
    if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + NONCE_BYTES + 16:
        raise OpenFailed("not a vault object")
    nonce = blob[len(MAGIC) : len(MAGIC) + NONCE_BYTES]
    try:
        return AESGCM(data_key).decrypt(
            nonce, blob[len(MAGIC) + NONCE_BYTES :], _object_aad(backup_id, partner)
        )
    except InvalidTag as exc:
        raise OpenFailed("the object does not authenticate") from exc


def sha256_hex(data: bytes) -> str:
    """Return the hex SHA-256 of some bytes."""
    return hashlib.sha256(data).hexdigest()
