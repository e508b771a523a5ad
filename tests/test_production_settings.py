"""Production refuses to start on a missing secret or any demo default, naming each one."""

from __future__ import annotations

import base64
import secrets

import pytest

from app import create_app
from config import ConfigurationError, random_bytes_in


def _key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture
def production(tmp_path):
    """A complete production configuration that boots; each test spoils one part of it."""
    return {
        "ENV": "production",
        "INSTANCE_PATH": str(tmp_path),
        "SECRET_KEY": secrets.token_urlsafe(48),
        "LICENSING_KEK": _key(),
        "VAULT_KEY": "v1:" + _key(),
        "PRODUCT_KEYS_KEY": _key(),
        "WEBHOOK_SECRETS_KEY": _key(),
        "NEXWAY_API_KEY": "nx-live-key-issued-by-nexway",
        "NEXWAY_CALLBACK_SECRET": secrets.token_urlsafe(32),
        "ARVATO_USERNAME": "comptoir",
        "ARVATO_PASSWORD": "issued-by-arvato",
        "DATABASE_URL": "postgresql+psycopg://shop@db.internal:5432/comptoir",
        "STRIPE_SECRET_KEY": "sk_live_issued_by_stripe",
        "STRIPE_WEBHOOK_SECRET": "whsec_issued_by_stripe",
        "PAYMENT_GATEWAY": "stripe",
        "TASKS_EAGER": False,
        "CELERY_BROKER_URL": "redis://queue.internal:6379/0",
        "PUBLIC_URL": "https://shop.comptoir.example",
        "PLATFORM_HOSTS": "shop.comptoir.example",
        "MAIL_BACKEND": "smtp",
        "MAIL_SENDER": "Comptoir <commandes@shop.comptoir.example>",
        "SMTP_HOST": "smtp.comptoir.example",
        "VAULT_BACKEND": "s3",
        "VAULT_S3_BUCKET": "comptoir-vault",
        "RATELIMIT_STORAGE_URI": "redis://cache.internal:6379/1",
        "SESSION_STORE": "redis",
        "SESSION_REDIS_URL": "redis://cache.internal:6379/2",
        "NEXWAY_URL": "https://api.nexway.store",
        "ARVATO_URL": "https://api.arvato.example",
        "VIES_URL": "https://ec.europa.eu/taxation_customs/vies/rest-api",
        "PLATFORM_LEGAL_NAME": "Comptoir SAS",
        "PLATFORM_LEGAL_FORM": "SAS",
        "PLATFORM_SIREN": "732829320",
        "PLATFORM_RCS_CITY": "Lyon",
        "PLATFORM_VAT_NUMBER": "FR44732829320",
        "PLATFORM_REGISTERED_OFFICE": "12 quai Saint-Antoine, 69002 Lyon",
        "PAYOUT_DEBTOR_NAME": "Comptoir SAS",
        "PAYOUT_DEBTOR_IBAN": "FR14 2004 1010 0505 0001 3M02 606",
        "PAYOUT_DEBTOR_BIC": "PSSTFRPPLYO",
        "CREDIT_IBAN": "FR1420041010050500013M02606",
        "CREDIT_BIC": "PSSTFRPPLYO",
    }


def _refusal(settings: dict) -> str:
    with pytest.raises(ConfigurationError) as caught:
        create_app(settings)
    return str(caught.value)


def test_a_complete_production_configuration_starts(production):
    app = create_app(production)
    assert app.config["SESSION_COOKIE_NAME"] == "__Host-comptoir"
    assert app.config["SESSION_COOKIE_SECURE"] is True


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"MAIL_BACKEND": "capture"}, "COMPTOIR_MAIL_BACKEND"),
        # Invoices in a bucket of their own here: the vault's setting spoils the vault only.
        ({"VAULT_BACKEND": "disk", "INVOICES_BACKEND": "s3",
          "INVOICES_S3_BUCKET": "comptoir-invoices"}, "COMPTOIR_VAULT_BACKEND"),
        ({"VAULT_S3_BUCKET": None, "INVOICES_S3_BUCKET": "comptoir-invoices"},
         "missing setting COMPTOIR_VAULT_S3_BUCKET"),
        ({"PLATFORM_HOSTS": "127.0.0.1,localhost"}, "COMPTOIR_PLATFORM_HOSTS"),
        ({"PLATFORM_HOSTS": "admin.comptoir.example"}, "COMPTOIR_PLATFORM_HOSTS"),
        ({"NEXWAY_URL": "http://127.0.0.1:8701"}, "COMPTOIR_NEXWAY_URL"),
        ({"VIES_URL": "http://127.0.0.1:8703"}, "COMPTOIR_VIES_URL"),
        ({"ARVATO_URL": "http://localhost:8702"}, "COMPTOIR_ARVATO_URL"),
        ({"ARVATO_URL": "http://[::1]:8702"}, "COMPTOIR_ARVATO_URL"),
        ({"RATELIMIT_STORAGE_URI": "memory://"}, "COMPTOIR_RATELIMIT_STORAGE_URI"),
        ({"SESSION_STORE": "filesystem"}, "COMPTOIR_SESSION_STORE"),
        ({"PAYMENT_GATEWAY": "test"}, "COMPTOIR_PAYMENT_GATEWAY"),
        ({"TASKS_EAGER": True}, "COMPTOIR_TASKS_EAGER"),
        ({"PUBLIC_URL": "http://shop.comptoir.example"}, "COMPTOIR_PUBLIC_URL"),
        ({"SECRET_KEY": "change-me-please"}, "COMPTOIR_SECRET_KEY"),
        ({"NEXWAY_CALLBACK_SECRET": secrets.token_urlsafe(16)}, "COMPTOIR_NEXWAY_CALLBACK_SECRET"),
        ({"WEBHOOK_SECRETS_KEY": secrets.token_urlsafe(8)}, "COMPTOIR_WEBHOOK_SECRETS_KEY"),
        ({"NEXWAY_CALLBACK_SECRET": secrets.token_urlsafe(16)}, "COMPTOIR_NEXWAY_CALLBACK_SECRET"),
        ({"PRODUCT_KEYS_KEY": base64.urlsafe_b64encode(bytes(32)).decode()},
         "COMPTOIR_PRODUCT_KEYS_KEY"),
        ({"VAULT_KEY": "v1:" + base64.urlsafe_b64encode(b"\x01" * 32).decode()},
         "COMPTOIR_VAULT_KEY"),
        ({"PLATFORM_LEGAL_NAME": ""}, "missing setting COMPTOIR_PLATFORM_LEGAL_NAME"),
        ({"PLATFORM_SIREN": None}, "missing setting COMPTOIR_PLATFORM_SIREN"),
        ({"PLATFORM_SIREN": "732829321"},
         "COMPTOIR_PLATFORM_SIREN is not a valid SIREN"),
        ({"PLATFORM_VAT_NUMBER": "FR45732829320"},
         "COMPTOIR_PLATFORM_VAT_NUMBER is not a valid French VAT number"),
        ({"PLATFORM_VAT_NUMBER": "FR40303265045"},
         "COMPTOIR_PLATFORM_VAT_NUMBER does not hold COMPTOIR_PLATFORM_SIREN"),
        ({"PLATFORM_VAT_NUMBER": "FR68900000001"},
         "COMPTOIR_PLATFORM_VAT_NUMBER is left at the demo's value"),
        ({"PLATFORM_REGISTERED_OFFICE": "12 rue de la Bourse, 75002 Paris"},
         "COMPTOIR_PLATFORM_REGISTERED_OFFICE is left at the demo's value"),
        ({"PAYOUT_DEBTOR_IBAN": None}, "missing setting COMPTOIR_PAYOUT_DEBTOR_IBAN"),
        ({"PAYOUT_DEBTOR_NAME": ""}, "missing setting COMPTOIR_PAYOUT_DEBTOR_NAME"),
        ({"PAYOUT_DEBTOR_BIC": None}, "missing setting COMPTOIR_PAYOUT_DEBTOR_BIC"),
        ({"PAYOUT_DEBTOR_IBAN": "FR76 3000 6000 0112 3456 7890 189"},
         "COMPTOIR_PAYOUT_DEBTOR_IBAN is left at the demo's value"),
        ({"PAYOUT_DEBTOR_NAME": "Comptoir Plateforme"},
         "COMPTOIR_PAYOUT_DEBTOR_NAME is left at the demo's value"),
        ({"PAYOUT_DEBTOR_IBAN": "FR1420041010050500013M02607"},
         "COMPTOIR_PAYOUT_DEBTOR_IBAN is not valid: This is not a valid IBAN"),
        ({"PAYOUT_DEBTOR_BIC": "COBADEFF"}, "COMPTOIR_PAYOUT_DEBTOR_BIC is not valid"),
        ({"CREDIT_IBAN": "FR7630006000011234567890189"},
         "COMPTOIR_CREDIT_IBAN is left at the demo's value"),
        ({"CREDIT_IBAN": "FR1420041010050500013M02607"}, "COMPTOIR_CREDIT_IBAN is not a valid"),
        ({"CREDIT_BIC": "PSST"}, "COMPTOIR_CREDIT_BIC is not a valid BIC"),
    ],
)
def test_production_refuses_each_demo_default_and_names_it(production, change, named):
    message = _refusal({**production, **change})
    assert named in message
    assert message.count("\n  - ") == 1, message


@pytest.mark.parametrize("name", ["CELERY_BROKER_URL", "MAIL_SENDER"])
def test_production_refuses_a_setting_left_at_its_demo_default(production, name):
    settings = {k: v for k, v in production.items() if k != name}
    assert f"COMPTOIR_{name} is left at the demo's default" in _refusal(settings)


def test_production_names_every_problem_in_one_error(production):
    message = _refusal({**production, "MAIL_BACKEND": "capture", "VAULT_BACKEND": "disk",
                        "RATELIMIT_STORAGE_URI": "memory://", "SECRET_KEY": None})
    for named in ("COMPTOIR_MAIL_BACKEND", "COMPTOIR_VAULT_BACKEND",
                  "COMPTOIR_RATELIMIT_STORAGE_URI", "missing setting COMPTOIR_SECRET_KEY"):
        assert named in message
    assert message.startswith("production refuses to start:")


def test_the_refusal_never_shows_a_secret(production):
    weak = "short-but-secret-value"
    message = _refusal({**production, "SECRET_KEY": weak})
    assert weak not in message


def test_a_mail_sender_with_a_line_break_is_refused_naming_the_setting(tmp_path):
    with pytest.raises(ConfigurationError, match="COMPTOIR_MAIL_SENDER"):
        create_app({"ENV": "testing", "SECRET_KEY": "x", "INSTANCE_PATH": str(tmp_path),
                    "MAIL_SENDER": "Shop <a@example.com>\r\nBcc: victim@example.com"})


@pytest.mark.parametrize(
    ("value", "enough"),
    [
        (secrets.token_urlsafe(32), True),
        (secrets.token_hex(32), True),
        (_key(), True),
        (secrets.token_urlsafe(48), True),
        (secrets.token_urlsafe(20), False),
        ("x" * 100, False),
        ("abcd" * 20, False),
        ("correct horse battery staple", False),
    ],
)
def test_random_bytes_are_estimated_from_what_a_secret_really_holds(value, enough):
    assert (random_bytes_in(value) >= 32) is enough


def test_postgresql_connections_never_try_gssapi_unless_asked(tmp_path, database_url):
    """libpq's bundled krb5 is not thread-safe: a worker's first connections could crash in it."""
    from config import engine_options

    assert engine_options("postgresql+psycopg://db/x")["connect_args"] == {"gssencmode": "disable"}
    assert "connect_args" not in engine_options("postgresql+psycopg://db/x?gssencmode=prefer")
    if not database_url.startswith("postgresql"):
        return
    from extensions import db

    app = create_app({"ENV": "testing", "SECRET_KEY": "x", "INSTANCE_PATH": str(tmp_path),
                      "DATABASE_URL": database_url})
    with app.app_context():
        raw = db.engine.raw_connection()
        try:
            options = {o.keyword: o.val for o in raw.driver_connection.pgconn.info}
        finally:
            raw.close()
        db.engine.dispose()
    assert options[b"gssencmode"] == b"disable"


@pytest.mark.parametrize("value", ["0", "-1", "a day", "1000"])
def test_a_hold_of_no_sense_is_refused_in_any_environment(test_settings, value):
    with pytest.raises(ConfigurationError, match="COMPTOIR_VIES_HOLD_HOURS must be a number of "
                                                 "hours"):
        create_app({**test_settings, "VIES_HOLD_HOURS": value})


@pytest.mark.parametrize("value", ["", "refuse", "HOLD"])
def test_an_unknown_vies_policy_is_refused_in_any_environment(test_settings, value):
    with pytest.raises(ConfigurationError, match="COMPTOIR_VIES_UNAVAILABLE"):
        create_app({**test_settings, "VIES_UNAVAILABLE": value})
