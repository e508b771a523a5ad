"""Vault fixtures: a real S3 server (moto's standalone server) over HTTP on loopback."""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from moto.server import ThreadedMotoServer
from vault_support import S3_CREDENTIALS

# Imported before the session schema fixture runs so that create_all makes the vault tables
# even while licensing/__init__.py does not import the vault yet.
import backups.vault.models  # noqa: F401
from backups.vault import BackupRequest, close_store, get_store, init_app
from backups.vault.storage import S3Store


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """Start moto's S3 server on a loopback port for the whole run."""
    werkzeug_log = logging.getLogger("werkzeug")
    level = werkzeug_log.level
    werkzeug_log.setLevel(logging.WARNING)  # one access-log line per S3 request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
    werkzeug_log.setLevel(level)


@pytest.fixture(autouse=True)
def vault(request: pytest.FixtureRequest) -> Iterator[None]:
    """Wire the vault into a test's app if licensing.init_app does not yet; close its store."""
    if "app" not in request.fixturenames:
        yield
        return
    app: Flask = request.getfixturevalue("app")
    if "vault" not in app.cli.commands:
        init_app(app)
    yield
    close_store(app)


@pytest.fixture
def use_s3(app: Flask, s3_endpoint: str) -> Callable[..., S3Store]:
    """Point the app's vault at a fresh bucket on the loopback S3 server."""

    def use(object_lock: bool = False, endpoint: str | None = None, **settings: Any) -> S3Store:
        app.config.update(
            VAULT_BACKEND="s3",
            VAULT_S3_BUCKET=f"vault-{uuid.uuid4().hex[:12]}",
            VAULT_S3_PREFIX="backups/",
            VAULT_S3_ENDPOINT=s3_endpoint,
            VAULT_S3_REGION="eu-west-3",
            VAULT_S3_MAX_ATTEMPTS=1,
            VAULT_S3_TIMEOUT=5,
            **S3_CREDENTIALS,
        )
        store = get_store()
        assert isinstance(store, S3Store)
        store.init_bucket(create=True, object_lock=object_lock)
        app.config.update(settings)
        if endpoint is not None:
            app.config["VAULT_S3_ENDPOINT"] = endpoint
        result = get_store()
        assert isinstance(result, S3Store)
        return result

    return use


@pytest.fixture
def make_request() -> Callable[..., BackupRequest]:
    """Build backup requests with a realistic bundle (a signed licence token, a key, links)."""
    counter = iter(range(1, 100_000))

    def make(**overrides: Any) -> BackupRequest:
        n = next(counter)
        bundle = {
            "licence": "eyJhbGciOiJFZERTQSJ9." + secrets.token_urlsafe(1800) + "." + "s" * 86,
            "product_key": f"NK{n:03d}-3XKGY-W8QDP-RKJ7M-QF9VT",
            "product": {"code": "OFFICE-HOME-2024", "name": "Office Home 2024", "seats": 1},
            "download": {
                "url": f"https://download.example/office/{secrets.token_urlsafe(24)}",
                "instructions": "Sign in, enter the key, install. " * 20,
            },
            "order": {"number": f"CPT-2026-{n:06d}", "line": n},
            "invoice": {"number": f"F2026-{n:06d}"},
            "buyer": {"name": "Camille Martin", "email": "camille@example.com"},
        }
        fields: dict[str, Any] = {
            "partner": "partner-a",
            "order_line_ref": f"line-{uuid.uuid4()}",
            "buyer_ref": "Camille@Example.com",
            "bundle": bundle,
        }
        fields.update(overrides)
        return BackupRequest(**fields)

    return make
