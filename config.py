"""Settings: defaults, then COMPTOIR_* environment variables, then create_app's mapping."""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from flask import Flask

DEFAULTS: dict[str, Any] = {
    "ENV": "development",
    "DATABASE_URL": None,  # default: SQLite in the instance folder
    "PLATFORM_HOSTS": "127.0.0.1,localhost",
    "DEFAULT_LOCALE": "fr",
    "LOCALES": "fr,en",
    "TIMEZONE": "Europe/Paris",
    "PAYMENT_GATEWAY": "test",
    "STRIPE_API_BASE": None,
    "MAIL_BACKEND": "capture",  # capture (dev mail page) or smtp
    "SMTP_HOST": "127.0.0.1",
    "SMTP_PORT": 25,
    "SMTP_USERNAME": None,
    "SMTP_PASSWORD": None,
    "SMTP_STARTTLS": False,
    "MAIL_SENDER": "Comptoir <no-reply@comptoir.example>",
    "TASKS_EAGER": True,
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
    "RATELIMIT_STORAGE_URI": "memory://",
    "RATELIMIT_ENABLED": True,
    "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
    "LOGO_MAX_BYTES": 512 * 1024,
    "CONSENT_WORDING_VERSION": "2026-11-v1",
    "VAULT_BACKEND": "disk",
    "VAULT_DIR": None,  # default: instance/vault
    "VAULT_S3_BUCKET": None,
    "VAULT_S3_PREFIX": "backups/",
    "VAULT_S3_ENDPOINT": None,
    "VAULT_S3_REGION": "eu-west-3",
    "NEXWAY_URL": "http://127.0.0.1:8701",
    "ARVATO_URL": "http://127.0.0.1:8702",
    "WHOLESALER_TIMEOUT": 10.0,
    "BUYER_LINK_MAX_AGE": 3600,
    "CALLBACK_BASE_URL": None,  # where wholesalers reach our callbacks; default PUBLIC_URL
    "FULFILMENT_MAX_ATTEMPTS": 6,
    "FULFILMENT_RETRY_BASE": 30.0,  # seconds; doubles each try, capped, with jitter
    "FULFILMENT_RETRY_CAP": 1800.0,
    "FULFILMENT_POLL_INTERVAL": 60.0,  # seconds between polls of an accepted asynchronous order
    "FULFILMENT_LEASE": 300.0,  # seconds a worker holds a line before another may take it
    "SWEEP_INTERVAL": 30.0,
    "SWEEP_GRACE": 10.0,  # seconds a freshly paid order is left to its own hand-over job
}

# Secrets: production refuses to start without each of them; development
# generates them into instance/secrets.json. Value: how to generate one.
SECRETS: dict[str, Callable[[], str]] = {
    "SECRET_KEY": lambda: secrets.token_urlsafe(48),
    "LICENSING_KEK": lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    "VAULT_KEY": lambda: "v1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    "PRODUCT_KEYS_KEY": lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    "NEXWAY_API_KEY": lambda: secrets.token_urlsafe(24),
    "NEXWAY_CALLBACK_SECRET": lambda: secrets.token_urlsafe(32),
    "ARVATO_USERNAME": lambda: "comptoir",
    "ARVATO_PASSWORD": lambda: secrets.token_urlsafe(24),
}

# Needed in production on top of SECRETS, never generated.
PRODUCTION_REQUIRED = (
    "DATABASE_URL",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "CELERY_BROKER_URL",
    "PUBLIC_URL",
)


class ConfigurationError(RuntimeError):
    """The settings cannot run the app (a missing secret in production, a bad value)."""


def load(app: Flask, overrides: Mapping[str, Any] | None) -> None:
    """Fill app.config from defaults, the environment and the overrides; settle secrets."""
    app.config.update(DEFAULTS)
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["WTF_CSRF_TIME_LIMIT"] = None
    app.config.from_prefixed_env("COMPTOIR")
    if overrides:
        app.config.update(overrides)

    env = app.config["ENV"]
    if env not in {"development", "production", "testing"}:
        raise ConfigurationError(
            f"COMPTOIR_ENV must be development, production or testing, not {env!r}"
        )
    if env == "production":
        _check_production(app)
    else:
        _settle_development_secrets(app)

    app.config.setdefault("PUBLIC_URL", None)
    if not app.config["DATABASE_URL"]:
        app.config["DATABASE_URL"] = "sqlite:///" + str(Path(app.instance_path) / "comptoir.db")
    if not app.config["VAULT_DIR"]:
        app.config["VAULT_DIR"] = str(Path(app.instance_path) / "vault")
    app.config["SQLALCHEMY_DATABASE_URI"] = app.config["DATABASE_URL"]
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(app.config["DATABASE_URL"])
    app.config["SESSION_COOKIE_SECURE"] = env == "production"
    app.config["BABEL_DEFAULT_LOCALE"] = app.config["DEFAULT_LOCALE"]
    app.config["BABEL_DEFAULT_TIMEZONE"] = app.config["TIMEZONE"]
    app.config["RATELIMIT_STORAGE_URI"] = app.config["RATELIMIT_STORAGE_URI"]


def engine_options(url: str) -> dict[str, Any]:
    """Engine options per backend: SQLite waits for its write lock instead of failing."""
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}}
    return {"pool_pre_ping": True}


def _check_production(app: Flask) -> None:
    missing = [name for name in (*SECRETS, *PRODUCTION_REQUIRED) if not app.config.get(name)]
    if missing:
        raise ConfigurationError(
            "production refuses to start: missing setting COMPTOIR_"
            + missing[0]
            + (
                f" (and {len(missing) - 1} more: "
                + ", ".join("COMPTOIR_" + m for m in missing[1:])
                + ")"
                if len(missing) > 1
                else ""
            )
        )
    if app.config["PAYMENT_GATEWAY"] != "stripe":
        raise ConfigurationError(
            "production refuses the test payment gateway: set COMPTOIR_PAYMENT_GATEWAY=stripe"
        )
    if app.config["TASKS_EAGER"] in (True, "1", "true", "True"):
        raise ConfigurationError("production runs jobs on workers: set COMPTOIR_TASKS_EAGER=false")


def _settle_development_secrets(app: Flask) -> None:
    """Fill missing secrets from instance/secrets.json, generating and saving new ones."""
    missing = [name for name in SECRETS if not app.config.get(name)]
    if not missing:
        return
    path = Path(app.instance_path) / "secrets.json"
    stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    generated = [name for name in missing if name not in stored]
    for name in generated:
        stored[name] = SECRETS[name]()
    if generated:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(stored, fh, indent=2)
        app.logger.warning(
            "development: generated %s into %s (never used in production)",
            ", ".join(generated),
            path,
        )
    for name in missing:
        app.config[name] = stored[name]
