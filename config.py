"""Settings: defaults, then COMPTOIR_* environment variables, then create_app's mapping."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import math
import os
import re
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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
    "CELERY_QUEUE": "celery",  # the queue jobs go to and `comptoir worker` consumes
    "RATELIMIT_STORAGE_URI": "memory://",
    "RATELIMIT_ENABLED": True,
    # Server-side sessions: files in the instance folder by default, Redis in production.
    "SESSION_STORE": "filesystem",  # filesystem or redis
    "SESSION_REDIS_URL": None,
    "SESSION_DIR": None,  # default: instance/sessions
    # Proxies whose X-Forwarded-For/-Proto/-Host are believed: addresses or networks.
    "TRUSTED_PROXIES": "",
    "ORDER_LINK_MAX_AGE": 90 * 24 * 3600,  # seconds an e-mailed order link opens the order
    "EMAIL_VERIFY_MAX_AGE": 48 * 3600,  # seconds a sign-up confirmation link works
    "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
    "LOGO_MAX_BYTES": 512 * 1024,
    # A product's picture as uploaded (it is re-encoded smaller); within MAX_CONTENT_LENGTH.
    "PRODUCT_PICTURE_MAX_BYTES": 1536 * 1024,
    "CONSENT_WORDING_VERSION": "2026-11-v1",
    "VAULT_BACKEND": "disk",
    "VAULT_DIR": None,  # default: instance/vault
    "VAULT_S3_BUCKET": None,
    "VAULT_S3_PREFIX": "backups/",
    "VAULT_S3_ENDPOINT": None,
    "VAULT_S3_REGION": "eu-west-3",
    # Invoice PDFs, kept ten years apart from the vault (docs/invoices.md): the backend, bucket,
    # endpoint, region and credentials default to the vault's; the prefix is always their own.
    "INVOICES_BACKEND": None,  # disk or s3; default: VAULT_BACKEND
    "INVOICES_DIR": None,  # default: instance/invoices
    "INVOICES_S3_BUCKET": None,  # default: VAULT_S3_BUCKET
    "INVOICES_S3_PREFIX": "invoices/",
    "INVOICES_S3_ENDPOINT": None,
    "INVOICES_S3_REGION": None,
    "NEXWAY_URL": "http://127.0.0.1:8701",
    "NEXWAY_CLIENT_SECRET": None,  # with NEXWAY_REALM: Connect's JWT on top of the secret header
    "NEXWAY_REALM": None,
    "NEXWAY_TOKEN_URL": None,  # default: NEXWAY_URL + /iam/tokens
    "ARVATO_URL": "http://127.0.0.1:8702",
    "WHOLESALER_TIMEOUT": 10.0,
    # VIES, the EU's VAT number register (commerce/vies.py); the simulator's port by default.
    # Production: https://ec.europa.eu/taxation_customs/vies/rest-api
    "VIES_URL": "http://127.0.0.1:8703",
    "VIES_TIMEOUT": 5.0,
    "VIES_UNAVAILABLE": "charge_vat",  # charge_vat or hold (commerce/taxation.py)
    "VIES_HOLD_HOURS": 48,  # a held order is priced with VAT and released after this long
    # A header the reverse proxy sets to the visitor's country (e.g. CF-IPCountry): evidence of
    # the buyer's location and the country prices are first shown for. Only set it when the
    # proxy overwrites what the visitor sends.
    "IP_COUNTRY_HEADER": None,
    "BUYER_LINK_MAX_AGE": 3600,
    # Anonymous shop pages from a cache (docs/caching.md): memory (this process, counters in
    # PAGE_CACHE_DIR, default instance/pagecache), redis (PAGE_CACHE_REDIS_URL, default
    # SESSION_REDIS_URL) or off; default redis when PAGE_CACHE_REDIS_URL is set or sessions are
    # in Redis (production), else memory.
    "PAGE_CACHE": None,
    "PAGE_CACHE_REDIS_URL": None,
    "PAGE_CACHE_DIR": None,
    "PAGE_CACHE_TTL": 300,  # seconds a stored page is kept at most
    "PAGE_CACHE_SHARED_MAX_AGE": 60,  # s-maxage: seconds a CDN may serve a page unchecked
    "PAGE_CACHE_STALE": 30,  # stale-while-revalidate for the CDN
    # Subscriptions (docs/subscriptions.md): a declined renewal is tried again after these days
    # (comma-separated, counted from the try before), and suspended this many days after its
    # term ended unpaid.
    "SUBSCRIPTION_RETRY_DAYS": "3,4",
    "SUBSCRIPTION_GRACE_DAYS": 14,
    "CALLBACK_BASE_URL": None,  # where wholesalers reach our callbacks; default PUBLIC_URL
    "FULFILMENT_MAX_ATTEMPTS": 6,
    "FULFILMENT_RETRY_BASE": 30.0,  # seconds; doubles each try, capped, with jitter
    "FULFILMENT_RETRY_CAP": 1800.0,
    "FULFILMENT_POLL_INTERVAL": 60.0,  # seconds between polls of an accepted asynchronous order
    "FULFILMENT_LEASE": 300.0,  # seconds a worker holds a line before another may take it
    "SWEEP_INTERVAL": 30.0,
    "EVENTS_RELAY": True,  # hand each commit's events to Celery; false leaves them to the sweep
    "EVENTS_RELAY_GRACE": 10.0,  # seconds a fresh event is left to its own task before the sweep
    "EVENTS_RETRY_BASE": 5.0,  # seconds before a failed consumer's second try; doubles, capped
    "EVENTS_RETRY_CAP": 3600.0,
    "WHOLESALER_BREAKER_THRESHOLD": 5,  # consecutive temporary failures that open the circuit
    "WHOLESALER_BREAKER_COOLDOWN": 30.0,  # seconds open before one probe may go
    "BREAKER_REDIS_URL": None,  # circuit state shared by all workers; default SESSION_REDIS_URL
    "THEMES_DIR": None,  # operator-installed themes; default: themes/ beside app.py
    "WEBHOOK_QUEUE": "webhooks",  # partners' webhooks go out from a queue of their own
    "WEBHOOK_TIMEOUT": 5.0,  # seconds an endpoint has to answer
    # Outside production endpoints may be on this machine; in production they may not reach
    # private addresses unless this is set.
    "WEBHOOK_ALLOW_PRIVATE_ADDRESSES": False,
    # The retention schedule of personal data (docs/privacy.md; accounts/retention.py).
    "PRIVACY_GUEST_ORDER_DAYS": 3 * 365,  # a guest's identity, after their last order
    "PRIVACY_UNVERIFIED_ACCOUNT_DAYS": 30,  # an account never confirmed and without orders
    "PRIVACY_SESSION_DAYS": 365,  # a session record (IP, browser) once it ended or timed out
    "PRIVACY_TOKEN_DAYS": 1,  # an e-mailed link, after it expired
    "PRIVACY_EMAIL_LOG_DAYS": 180,  # a copy of a sent e-mail (recipient and body)
    # Where resellers pay their credit line by SEPA transfer (docs/credit.md); the demo's
    # account below is refused in production.
    "CREDIT_ACCOUNT_HOLDER": "Comptoir Plateforme",
    "CREDIT_IBAN": "FR7630006000011234567890189",
    "CREDIT_BIC": "AGRIFRPP",
    # The platform's legal identity: the seller its invoices name when it is the merchant of
    # record (docs/invoices.md). The demo's values below are refused in production.
    **{name: value for name, value in (
        ("PLATFORM_LEGAL_NAME", "Comptoir Plateforme"),
        ("PLATFORM_LEGAL_FORM", "SAS"),
        ("PLATFORM_SIREN", "900000001"),
        ("PLATFORM_RCS_CITY", "Paris"),
        ("PLATFORM_VAT_NUMBER", "FR68900000001"),
        ("PLATFORM_REGISTERED_OFFICE", "12 rue de la Bourse, 75002 Paris"),
    )},
    # The platform's account that pays the resellers' commissions: the debtor of each SEPA
    # credit-transfer file (commissions/sepa.py). The demo's values below are refused in
    # production.
    **{name: value for name, value in (
        ("PAYOUT_DEBTOR_NAME", "Comptoir Plateforme"),
        ("PAYOUT_DEBTOR_IBAN", "FR7630006000011234567890189"),
        ("PAYOUT_DEBTOR_BIC", "AGRIFRPPXXX"),
    )},
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
    "WEBHOOK_SECRETS_KEY": lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
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


# Secrets we choose ourselves: production wants at least this much randomness in each.
STRONG_SECRETS = ("SECRET_KEY", "LICENSING_KEK", "PRODUCT_KEYS_KEY", "NEXWAY_CALLBACK_SECRET",
                  "WEBHOOK_SECRETS_KEY")
MIN_SECRET_BYTES = 32
# The platform's legal identity on its invoices: production needs each, and not the demo's.
PLATFORM_IDENTITY = ("PLATFORM_LEGAL_NAME", "PLATFORM_LEGAL_FORM", "PLATFORM_SIREN",
                     "PLATFORM_RCS_CITY", "PLATFORM_VAT_NUMBER", "PLATFORM_REGISTERED_OFFICE")
# Those whose demo value is the demo's own (a real company may well be an SAS in Paris).
DEMO_IDENTITY = ("PLATFORM_LEGAL_NAME", "PLATFORM_SIREN", "PLATFORM_VAT_NUMBER",
                 "PLATFORM_REGISTERED_OFFICE")
# The account that pays the resellers: production needs each, valid, and not the demo's.
PAYOUT_DEBTOR = ("PAYOUT_DEBTOR_NAME", "PAYOUT_DEBTOR_IBAN", "PAYOUT_DEBTOR_BIC")
# The demo's account and name; its BIC is a real bank's, which the platform may well use.
DEMO_DEBTOR = ("PAYOUT_DEBTOR_NAME", "PAYOUT_DEBTOR_IBAN")
# Settings that production must be given explicitly: their defaults only suit the demo.
EXPLICIT_IN_PRODUCTION = ("CELERY_BROKER_URL", "MAIL_SENDER")
TRUE_VALUES = (True, "1", "true", "True", "yes")


def load(app: Flask, overrides: Mapping[str, Any] | None) -> None:
    """Fill app.config from defaults, the environment and the overrides; settle secrets."""
    app.config.update(DEFAULTS)
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["WTF_CSRF_TIME_LIMIT"] = None
    before = dict(app.config)
    app.config.from_prefixed_env("COMPTOIR")
    if overrides:
        app.config.update(overrides)
    explicit = {k for k, v in app.config.items() if k not in before or before[k] != v}
    explicit |= {k for k in (overrides or {})}
    explicit |= {k.removeprefix("COMPTOIR_") for k in os.environ if k.startswith("COMPTOIR_")}
    app.config["EXPLICIT_SETTINGS"] = frozenset(explicit)

    for name in ("MAIL_SENDER",):
        value = str(app.config.get(name) or "")
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ConfigurationError(
                f"COMPTOIR_{name} contains a line break or control character: it goes into the "
                "From header of every e-mail"
            )
    if app.config.get("VIES_UNAVAILABLE") not in ("charge_vat", "hold"):
        raise ConfigurationError(
            "COMPTOIR_VIES_UNAVAILABLE must be charge_vat (tax the buyer when VIES cannot answer) "
            "or hold (keep the order unpaid until it can), "
            f"not {app.config.get('VIES_UNAVAILABLE')!r}")
    for name, upper in (("WEBHOOK_TIMEOUT", 30.0), ("WHOLESALER_TIMEOUT", 120.0),
                        ("VIES_TIMEOUT", 30.0), ("VIES_HOLD_HOURS", 720.0)):
        value = app.config.get(name)
        try:
            seconds = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            seconds = -1.0
        if not 0 < seconds <= upper:
            unit = "hours" if name.endswith("_HOURS") else "seconds"
            raise ConfigurationError(
                f"COMPTOIR_{name} must be a number of {unit} above 0 and at most {upper:g}, "
                f"not {value!r}")
        app.config[name] = seconds
    _check_subscription_settings(app)
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
    if not app.config["INVOICES_DIR"]:
        app.config["INVOICES_DIR"] = str(Path(app.instance_path) / "invoices")
    if not app.config["SESSION_DIR"]:
        app.config["SESSION_DIR"] = str(Path(app.instance_path) / "sessions")
    app.config["SQLALCHEMY_DATABASE_URI"] = app.config["DATABASE_URL"]
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(app.config["DATABASE_URL"])
    production = env == "production"
    app.config["SESSION_COOKIE_SECURE"] = production
    # __Host-: the browser keeps the cookie to this exact host, over HTTPS, for every path.
    app.config["SESSION_COOKIE_NAME"] = "__Host-comptoir" if production else "comptoir_session"
    app.config["SESSION_COOKIE_PATH"] = "/"
    app.config["SESSION_COOKIE_DOMAIN"] = None
    app.config["BABEL_DEFAULT_LOCALE"] = app.config["DEFAULT_LOCALE"]
    app.config["BABEL_DEFAULT_TIMEZONE"] = app.config["TIMEZONE"]


def engine_options(url: str) -> dict[str, Any]:
    """Engine options per backend.

    SQLite waits for its write lock instead of failing. PostgreSQL through psycopg's binary
    wheel: libpq tries GSSAPI (Kerberos) encryption first by default (gssencmode=prefer), and the
    krb5 library bundled with it is neither thread- nor fork-safe: a fresh gunicorn worker opening
    its first connections from several threads at once can die of SIGSEGV inside krb5
    (psycopg/psycopg#1213, ged/ruby-pg#311). Comptoir never authenticates to PostgreSQL with
    Kerberos, so GSSAPI is off unless the URL asks for it (`?gssencmode=prefer`).
    """
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}}
    options: dict[str, Any] = {"pool_pre_ping": True}
    if "gssencmode=" not in url:
        options["connect_args"] = {"gssencmode": "disable"}
    return options


def _check_production(app: Flask) -> None:
    """Refuse to start on anything missing or left at the demo's value, naming every one."""
    cfg = app.config
    problems = [f"missing setting COMPTOIR_{name}"
                for name in (*SECRETS, *PRODUCTION_REQUIRED) if not cfg.get(name)]
    problems += [f"COMPTOIR_{name} is left at the demo's default ({cfg.get(name)}): set it"
                 for name in EXPLICIT_IN_PRODUCTION
                 if name not in cfg["EXPLICIT_SETTINGS"] and cfg.get(name)]
    for name in PLATFORM_IDENTITY:
        if not str(cfg.get(name) or "").strip():
            problems.append(f"missing setting COMPTOIR_{name}: the platform's invoices name it")
        elif cfg.get(name) == DEFAULTS[name] and name in DEMO_IDENTITY:
            problems.append(f"COMPTOIR_{name} is left at the demo's value: the platform's "
                            "invoices name it")
    problems += _platform_numbers(cfg)
    problems += payout_debtor_problems(cfg)
    problems += _credit_bank(cfg)
    if cfg["PAYMENT_GATEWAY"] != "stripe":
        problems.append("COMPTOIR_PAYMENT_GATEWAY is the test gateway: set it to stripe")
    if cfg["TASKS_EAGER"] in TRUE_VALUES:
        problems.append("COMPTOIR_TASKS_EAGER runs jobs in-process: set it to false and run "
                        "`comptoir worker`")
    if cfg["MAIL_BACKEND"] != "smtp":
        problems.append("COMPTOIR_MAIL_BACKEND catches e-mails instead of sending them: "
                        "set it to smtp")
    if cfg["VAULT_BACKEND"] != "s3":
        problems.append("COMPTOIR_VAULT_BACKEND keeps licence backups on this disk: set it to s3")
    elif not cfg.get("VAULT_S3_BUCKET"):
        problems.append("missing setting COMPTOIR_VAULT_S3_BUCKET: the object store's bucket "
                        "for licence backups")
    problems += invoice_storage_problems(cfg)
    if str(cfg["RATELIMIT_STORAGE_URI"]).startswith("memory"):
        problems.append("COMPTOIR_RATELIMIT_STORAGE_URI counts in each process's memory: "
                        "use redis://")
    if cfg["SESSION_STORE"] != "redis" or not cfg.get("SESSION_REDIS_URL"):
        problems.append("COMPTOIR_SESSION_STORE keeps sessions in files: set it to redis with "
                        "COMPTOIR_SESSION_REDIS_URL")
    if is_loopback_url(cfg.get("VIES_URL")):
        problems.append(f"COMPTOIR_VIES_URL is a loopback address ({cfg.get('VIES_URL')}), the "
                        "simulator's: give VIES's own (https://ec.europa.eu/taxation_customs/"
                        "vies/rest-api)")
    for name in ("NEXWAY_URL", "ARVATO_URL"):
        if is_loopback_url(cfg.get(name)):
            problems.append(f"COMPTOIR_{name} is a loopback address ({cfg.get(name)}), "
                            "the simulator's: give the wholesaler's own address")
    public = str(cfg.get("PUBLIC_URL") or "")
    if public and not public.startswith("https://"):
        problems.append("COMPTOIR_PUBLIC_URL must be an https:// address")
    public_host = (urlsplit(public).hostname or "").lower()
    platform_hosts = {h.strip().lower() for h in str(cfg.get("PLATFORM_HOSTS") or "").split(",")}
    if public_host and public_host not in platform_hosts:
        problems.append(f"COMPTOIR_PLATFORM_HOSTS ({cfg.get('PLATFORM_HOSTS')}) does not hold "
                        f"the host of COMPTOIR_PUBLIC_URL ({public_host}): the back office, "
                        "the payment and wholesaler webhooks would answer 404 there")
    for name in STRONG_SECRETS:
        value = cfg.get(name)
        if value and random_bytes_in(str(value)) < MIN_SECRET_BYTES:
            problems.append(f"COMPTOIR_{name} holds fewer than {MIN_SECRET_BYTES} random bytes")
    for key_id, value in _vault_keys(cfg.get("VAULT_KEY")):
        if random_bytes_in(value) < MIN_SECRET_BYTES:
            problems.append(f"COMPTOIR_VAULT_KEY key {key_id!r} holds fewer than "
                            f"{MIN_SECRET_BYTES} random bytes")
    if problems:
        raise ConfigurationError(
            "production refuses to start:\n" + "\n".join(f"  - {p}" for p in problems)
        )


def invoice_storage_problems(cfg: Mapping[str, Any]) -> list[str]:
    """Name what keeps production's invoice PDFs from ten years in S3 apart from the vault."""
    def own_or_vault(name: str) -> Any:
        value = cfg.get(f"INVOICES_{name}")
        return value if value not in (None, "") else cfg.get(f"VAULT_{name}")

    backend = own_or_vault("BACKEND") or "disk"
    if backend != "s3":
        return [f"COMPTOIR_INVOICES_BACKEND ({backend}) keeps invoices, which must last ten "
                "years, on this disk: set it (or the vault's backend) to s3"]
    bucket = own_or_vault("S3_BUCKET")
    if not bucket:
        return ["missing setting COMPTOIR_INVOICES_S3_BUCKET: the object store's bucket for "
                "invoices (the vault's is used when only that one is set)"]
    prefix = str(cfg.get("INVOICES_S3_PREFIX") or "")
    vault_prefix = str(cfg.get("VAULT_S3_PREFIX") or "")
    if cfg.get("VAULT_BACKEND") == "s3" and bucket == cfg.get("VAULT_S3_BUCKET") and (
            prefix.startswith(vault_prefix) or vault_prefix.startswith(prefix)):
        return [f"COMPTOIR_INVOICES_S3_PREFIX ({prefix or 'none'}) overlaps the licence vault's "
                f"prefix ({vault_prefix or 'none'}) in bucket {bucket}: the vault expires what "
                "it holds after two years, invoices are kept ten; give them a prefix of their own"]
    return []


def payout_debtor_problems(cfg: Mapping[str, Any]) -> list[str]:
    """Name what keeps production's payout files from debiting the platform's own account."""
    problems = []
    for name in PAYOUT_DEBTOR:
        value = str(cfg.get(name) or "").replace(" ", "").upper()
        if not value:
            problems.append(f"missing setting COMPTOIR_{name}: the account that pays resellers")
        elif name in DEMO_DEBTOR and value == str(DEFAULTS[name]).replace(" ", "").upper():
            problems.append(f"COMPTOIR_{name} is left at the demo's value: payout files would "
                            "debit the demo's account")
    if problems:
        return problems
    from commissions.bank import check_bank_details
    from commissions.errors import InvalidBankDetails

    try:
        check_bank_details(str(cfg["PAYOUT_DEBTOR_IBAN"]), str(cfg["PAYOUT_DEBTOR_BIC"]),
                           str(cfg["PAYOUT_DEBTOR_NAME"]))
    except InvalidBankDetails as exc:
        fields = {"iban": "IBAN", "bic": "BIC", "holder": "NAME"}
        problems += [f"COMPTOIR_PAYOUT_DEBTOR_{fields[field]} is not valid: {why}"
                     for field, why in exc.problems.items()]
    return problems


def _platform_numbers(cfg: Any) -> list[str]:
    """The platform's SIREN and VAT number hold their check digits and agree with each other,
    as a partner's must (partners/validation.py): invoices and VIES's requester carry them."""
    from stdnum.fr import siren, tva

    number = str(cfg.get("PLATFORM_SIREN") or "").replace(" ", "")
    vat = str(cfg.get("PLATFORM_VAT_NUMBER") or "").replace(" ", "").upper()
    problems: list[str] = []
    if vat == DEFAULTS["PLATFORM_VAT_NUMBER"] or number == DEFAULTS["PLATFORM_SIREN"]:
        return problems  # already refused as the demo's
    if number and not siren.is_valid(number):
        problems.append("COMPTOIR_PLATFORM_SIREN is not a valid SIREN (9 digits, Luhn key)")
    if vat and not tva.is_valid(vat):
        problems.append("COMPTOIR_PLATFORM_VAT_NUMBER is not a valid French VAT number")
    elif vat and siren.is_valid(number) and vat[-9:] != number:
        problems.append("COMPTOIR_PLATFORM_VAT_NUMBER does not hold COMPTOIR_PLATFORM_SIREN")
    return problems


def _credit_bank(cfg: Any) -> list[str]:
    """The bank account resellers pay their credit lines to: valid, and not the demo's."""
    from stdnum import bic, iban

    if str(cfg.get("CREDIT_IBAN") or "").replace(" ", "") == DEFAULTS["CREDIT_IBAN"]:
        return ["COMPTOIR_CREDIT_IBAN is left at the demo's value: resellers' transfers go there"]
    problems = []
    if not iban.is_valid(str(cfg.get("CREDIT_IBAN") or "")):
        problems.append("COMPTOIR_CREDIT_IBAN is not a valid IBAN")
    if not bic.is_valid(str(cfg.get("CREDIT_BIC") or "")):
        problems.append("COMPTOIR_CREDIT_BIC is not a valid BIC")
    return problems


def is_loopback_url(url: str | None) -> bool:
    """Tell whether a URL names this machine (localhost, 127.0.0.0/8, ::1)."""
    if not url:
        return False
    host = (urlsplit(str(url)).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def random_bytes_in(value: str) -> int:
    """Estimate the random bytes a secret holds: decoded key material, else its text's entropy.

    A base64 or hex value counts its decoded bytes; a value whose bytes barely vary (a repeated
    character, a short pattern) counts as the few bytes it really has. Other text counts
    log2(alphabet) bits per character, the alphabet judged from the character classes it uses.
    """
    raw = _decoded(value)
    if raw is not None:
        distinct = len(set(raw))
        return len(raw) if distinct >= min(len(raw), 16) * 3 // 4 else distinct
    if len(set(value)) < 12:
        return len(set(value))
    classes = [
        any(c.islower() for c in value), any(c.isupper() for c in value),
        any(c.isdigit() for c in value), any(not c.isalnum() for c in value),
    ]
    alphabet = sum(size for size, present in zip((26, 26, 10, 32), classes, strict=True)
                   if present)
    return int(len(value) * math.log2(max(alphabet, 2)) / 8)


def _decoded(value: str) -> bytes | None:
    if re.fullmatch(r"[0-9a-fA-F]{32,}", value) and len(value) % 2 == 0:
        return bytes.fromhex(value)
    if re.fullmatch(r"[A-Za-z0-9_\-+/]{32,}={0,2}", value):
        try:
            return base64.urlsafe_b64decode(
                value.replace("+", "-").replace("/", "_") + "=" * (-len(value) % 4))
        except (ValueError, binascii.Error):
            return None
    return None


def _vault_keys(value: object) -> list[tuple[str, str]]:
    entries = [e.strip() for e in str(value or "").split(",") if e.strip()]
    return [tuple(e.split(":", 1)) if ":" in e else ("?", e) for e in entries]  # type: ignore[misc]


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


def _check_subscription_settings(app: Flask) -> None:
    """Whole days: a grace of 1 to 60, and retries that all fall within it."""
    try:
        grace = int(app.config["SUBSCRIPTION_GRACE_DAYS"])
        retries = [int(d) for d in str(app.config["SUBSCRIPTION_RETRY_DAYS"]).split(",")
                   if d.strip()]
    except (TypeError, ValueError):
        grace, retries = -1, []
    if not 1 <= grace <= 60 or any(d < 1 for d in retries) or sum(retries) >= max(grace, 1):
        raise ConfigurationError(
            "COMPTOIR_SUBSCRIPTION_GRACE_DAYS must be a whole number of days from 1 to 60, and "
            "COMPTOIR_SUBSCRIPTION_RETRY_DAYS whole days (e.g. 3,4) whose sum is less than the "
            f"grace, not {app.config.get('SUBSCRIPTION_GRACE_DAYS')!r} and "
            f"{app.config.get('SUBSCRIPTION_RETRY_DAYS')!r}")
    app.config["SUBSCRIPTION_GRACE_DAYS"] = grace
