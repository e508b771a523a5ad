"""The keyring format and the envelope encryption."""

from __future__ import annotations

import base64
import uuid

import pytest
from vault_support import new_vault_key

from backups.vault.crypto import Keyring, OpenFailed, open_sealed, seal
from backups.vault.errors import UnknownVaultKey, VaultConfigError


def test_first_key_of_the_keyring_is_active() -> None:
    ring = Keyring.parse(f"{new_vault_key('v2')}, {new_vault_key('v1')}")
    assert ring.active_id == "v2"
    assert set(ring.keys) == {"v1", "v2"}


def test_keys_without_base64_padding_are_accepted() -> None:
    raw = b"k" * 32
    ring = Keyring.parse("a:" + base64.urlsafe_b64encode(raw).decode().rstrip("="))
    assert ring.keys["a"] == raw


@pytest.mark.parametrize(
    "value",
    ["", "   ", "nokey", "v1:", "v1:" + base64.urlsafe_b64encode(b"short").decode(),
     "v1:!!!notbase64!!!", "bad id:" + base64.urlsafe_b64encode(b"x" * 32).decode()],
)
def test_malformed_keyrings_are_refused(value: str) -> None:
    with pytest.raises(VaultConfigError):
        Keyring.parse(value)


def test_a_key_id_appearing_twice_is_refused() -> None:
    with pytest.raises(VaultConfigError, match="twice"):
        Keyring.parse(f"{new_vault_key('v1')},{new_vault_key('v1')}")


def test_wrapped_data_key_comes_back_under_its_key_id_only() -> None:
    old = Keyring.parse(new_vault_key("v1"))
    backup_id = uuid.uuid4()
    key_id, wrapped = old.wrap(b"d" * 32, backup_id)
    assert old.unwrap(key_id, wrapped, backup_id) == b"d" * 32
    with pytest.raises(OpenFailed):
        old.unwrap(key_id, wrapped, uuid.uuid4())  # bound to its backup
    with pytest.raises(UnknownVaultKey):
        Keyring.parse(new_vault_key("v2")).unwrap(key_id, wrapped, backup_id)


def test_sealed_object_is_bound_to_backup_id_and_partner() -> None:
    backup_id = uuid.uuid4()
    data_key, blob = seal(b'{"product_key":"XXXXX"}', backup_id, "partner-a")
    assert b"XXXXX" not in blob
    assert open_sealed(data_key, blob, backup_id, "partner-a") == b'{"product_key":"XXXXX"}'
    with pytest.raises(OpenFailed):
        open_sealed(data_key, blob, backup_id, "partner-b")
    with pytest.raises(OpenFailed):
        open_sealed(data_key, blob, uuid.uuid4(), "partner-a")
    flipped = bytearray(blob)
    flipped[-1] ^= 0x01
    with pytest.raises(OpenFailed):
        open_sealed(data_key, bytes(flipped), backup_id, "partner-a")
