"""The app's keyring and object store, built from settings once and kept on the app."""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask, current_app

from backups.vault.crypto import Keyring
from backups.vault.storage import STORE_SETTINGS, BackupStore, store_from_settings

_STORE = "vault_store"
_KEYRING = "vault_keyring"
_lock = threading.Lock()


def get_keyring(app: Flask | None = None) -> Keyring:
    """Return the keyring parsed from VAULT_KEY (parsed again whenever the setting changes)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    value = app.config.get("VAULT_KEY")
    cached: tuple[Any, Keyring] | None = app.extensions.get(_KEYRING)
    if cached is not None and cached[0] == value:
        return cached[1]
    keyring = Keyring.parse(value)
    app.extensions[_KEYRING] = (value, keyring)
    return keyring


def get_store(app: Flask | None = None) -> BackupStore:
    """Return the app's object store, built again (and the old one closed) if settings changed."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    settings = tuple(app.config.get(name) for name in STORE_SETTINGS)
    with _lock:
        cached: tuple[Any, BackupStore] | None = app.extensions.get(_STORE)
        if cached is not None and cached[0] == settings:
            return cached[1]
        store = store_from_settings(app.config)
        app.extensions[_STORE] = (settings, store)
    if cached is not None:
        cached[1].close()
    return store


def close_store(app: Flask | None = None) -> None:
    """Close the app's object store (its connection pool), if one was built."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    with _lock:
        cached = app.extensions.pop(_STORE, None)
    if cached is not None:
        cached[1].close()
