"""Shared fixtures: one schema per run, emptied after each test; factories that return callables."""

from __future__ import annotations

import os
import secrets
import weakref
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from support.database import empty_tables
from support.forms import csrf_from
from support.localstripe_server import localstripe, localstripe_server  # noqa: F401 - fixtures
from support.partners import LEGAL_IDENTITY
from support.smtp import mailbox, smtp_mailbox  # noqa: F401 - fixtures
from support.vies import vies, vies_server  # noqa: F401 - fixtures

from app import create_app
from extensions import db as _db

# The postgres_only fixture, and what a missing service does: skip locally, fail under CI.
pytest_plugins = ["support.environment"]

TEST_DATABASE_URL = os.environ.get("COMPTOIR_TEST_DATABASE_URL", "")


def pytest_report_header(config: pytest.Config) -> str:
    return "database: " + (TEST_DATABASE_URL or "sqlite (temporary file)")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    if TEST_DATABASE_URL:
        return TEST_DATABASE_URL
    return "sqlite:///" + str(tmp_path_factory.mktemp("db") / "comptoir-test.db")


@pytest.fixture(scope="session")
def is_postgres(database_url: str) -> bool:
    return database_url.startswith("postgresql")


@pytest.fixture(scope="session")
def test_settings(database_url: str, tmp_path_factory: pytest.TempPathFactory,
                  vies_server: Any) -> dict[str, Any]:  # noqa: F811 - the fixture
    """Settings every test app starts from; secrets are fresh per run, never from disk."""
    import base64

    return {
        "ENV": "testing",
        "TESTING": True,
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_urlsafe(32),
        "LICENSING_KEK": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "VAULT_KEY": "v1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "PRODUCT_KEYS_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "NEXWAY_API_KEY": "test-nexway-key",
        "NEXWAY_CALLBACK_SECRET": "test-nexway-callback-secret",
        "ARVATO_USERNAME": "comptoir",
        "ARVATO_PASSWORD": "test-arvato-password",
        "RATELIMIT_ENABLED": False,
        # One broker for the whole run (jobs run in-process unless a test starts a worker):
        # Kombu caches connections per process, so the broker is never switched mid-run.
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/14",
        # A queue of this run's own: two suites running at once (two checkouts) never share jobs.
        "CELERY_QUEUE": f"comptoir-test-{os.getpid()}-{secrets.token_hex(4)}",
        # Tests that need a wholesaler start its simulator and point these at it.
        "NEXWAY_URL": "http://127.0.0.1:9",
        "ARVATO_URL": "http://127.0.0.1:9",
        "WHOLESALER_TIMEOUT": 0.5,
        "VIES_URL": vies_server.url,
        "VIES_TIMEOUT": 2.0,
        "WHOLESALER_RETRY_ATTEMPTS": 1,
        "WHOLESALER_RETRY_BASE": 0.01,
        "VAULT_DIR": str(tmp_path_factory.mktemp("vault")),
        "SESSION_DIR": str(tmp_path_factory.mktemp("sessions")),
        "PLATFORM_HOSTS": "localhost,127.0.0.1",
        "SERVER_NAME": None,
    }


@pytest.fixture(scope="session")
def _schema(test_settings: dict[str, Any]) -> Iterator[None]:
    """Create every table once per run (tests only: the app itself migrates)."""
    url = test_settings["DATABASE_URL"]
    if url.startswith("postgresql"):
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    app = create_app(test_settings)
    with app.app_context():
        _db.create_all()
    yield
    with app.app_context():
        _db.engine.dispose()


class RequestScopedClient(FlaskClient):
    """Each request gets its own app context, g and database session, as in production.

    Tests hold an app context open for their own queries; without this, requests would
    share that context's g (and Flask-Login's cached user) across clients.
    """

    def open(self, *args: Any, **kwargs: Any):  # type: ignore[no-untyped-def,override]
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def app(test_settings: dict[str, Any], _schema: None, tmp_path: Path) -> Iterator[Flask]:
    app = create_app(
        {
            **test_settings,
            "VAULT_DIR": str(tmp_path / "vault"),
            "INVOICES_DIR": str(tmp_path / "invoices"),
            "SESSION_DIR": str(tmp_path / "sessions"),
        }
    )
    app.test_client_class = RequestScopedClient
    with app.app_context():
        yield app
        _db.session.remove()
        empty_tables()
        _db.engine.dispose()



_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


@event.listens_for(Engine, "engine_connect")
def _track_engine(connection: Any) -> None:
    _ENGINES.add(connection.engine)


@pytest.fixture(autouse=True)
def _dispose_engines() -> Iterator[None]:
    """Close the pooled connections of every app a test built, not only the `app` fixture's."""
    yield
    for engine in list(_ENGINES):
        engine.dispose()


@pytest.fixture
def db(app: Flask):  # type: ignore[no-untyped-def]
    return _db


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask):  # type: ignore[no-untyped-def]
    return app.test_cli_runner()


@pytest.fixture
def form_token(client: FlaskClient) -> Callable[[str], str]:
    """GET a page as a person would and return its form's CSRF token."""

    def fetch(url: str, **kwargs: Any) -> str:
        response = client.get(url, **kwargs)
        assert response.status_code == 200, (url, response.status_code)
        return csrf_from(response.get_data(as_text=True))

    return fetch


@pytest.fixture
def make_product(db):  # type: ignore[no-untyped-def]
    from commerce.models import Product, ProductSku

    counter = iter(range(1, 10_000))

    def make(**overrides: Any) -> Product:
        n = next(counter)
        fields: dict[str, Any] = {
            "code": f"TEST-PRODUCT-{n}",
            "family": "office",
            "name": f"Test Office {n}",
            "edition": "Home 2024",
            "platform": "windows",
            "seats": 1,
            "seat_unit": "device",
            "licence_type": "perpetual",
            "list_price_cents": 14900,
            "vat_rate": Decimal("20.00"),
            "description": "A test product.",
        }
        skus = overrides.pop("skus", {"nexway": f"NX-{n}", "arvato": f"AR-{n}"})
        fields.update(overrides)
        product = Product(**fields)
        product.skus = [ProductSku(wholesaler_code=w, sku=s) for w, s in skus.items()]
        db.session.add(product)
        db.session.commit()
        return product

    return make


@pytest.fixture
def make_partner(db, make_product):  # type: ignore[no-untyped-def]
    from commerce.models import Partner, PartnerDomain, PartnerProduct

    counter = iter(range(1, 10_000))

    def make(
        products: list[Any] | None = None, prices: dict[str, int] | None = None, **overrides: Any
    ) -> Partner:
        n = next(counter)
        fields: dict[str, Any] = {
            "slug": f"partner-{n}",
            "name": f"Partner {n}",
            "kind": "retail",
            "wholesaler_code": "nexway",
            "support_email": f"support@partner-{n}.example",
            "legal_notice": f"Partner {n} SAS, 1 rue de la Paix, 75002 Paris.",
            "status": "open",
            **LEGAL_IDENTITY,
            "legal_name": f"Partner {n} SAS",
        }
        domains = overrides.pop("domains", [f"shop.partner-{n}.example"])
        fields.update(overrides)
        partner = Partner(**fields)
        partner.domains = [PartnerDomain(host=h) for h in domains]
        prices = prices or {}
        for i, product in enumerate(products or []):
            partner.offers.append(
                PartnerProduct(
                    product=product,
                    price_cents=prices.get(product.code, product.list_price_cents),
                    position=i,
                )
            )
        db.session.add(partner)
        db.session.commit()
        return partner

    return make


@pytest.fixture
def make_user(db):  # type: ignore[no-untyped-def]
    from commerce.models import User
    from commerce.passwords import hash_password

    counter = iter(range(1, 10_000))

    def make(password: str = "correct horse battery", **overrides: Any) -> User:
        """A user whose address is confirmed unless email_verified_at=None is passed."""
        from extensions import utcnow

        n = next(counter)
        fields: dict[str, Any] = {
            "email": f"user{n}@example.com",
            "name": f"User {n}",
            "role": "buyer",
            "email_verified_at": utcnow(),
        }
        fields.update(overrides)
        user = User(password_hash=hash_password(password), **fields)
        db.session.add(user)
        db.session.commit()
        return user

    return make


@pytest.fixture
def sign_in_operator(db, make_user):  # type: ignore[no-untyped-def]
    """Sign a client in at the operator door: password, then a current TOTP code."""
    import pyotp

    from accounts import factors
    from accounts.totp import new_secret
    from commerce.models import User

    def sign_in(
        client: FlaskClient, email: str = "op@comptoir.example",
        password: str = "operator password 2026", **user_fields: Any,
    ) -> User:
        from sqlalchemy import select

        user = db.session.scalar(select(User).where(User.email == email))
        if user is None:
            user = make_user(email=email, role="operator", password=password, **user_fields)
        secret = new_secret()
        factors.set_totp_secret(user, secret)
        db.session.commit()
        response = client.post("/admin/login", data={
            "csrf_token": csrf_from(client.get("/admin/login?lang=en").get_data(as_text=True)),
            "email": email, "password": password})
        assert response.status_code == 302, response.status_code
        assert response.location.endswith("/admin/login/verify"), response.location
        page = client.get("/admin/login/verify").get_data(as_text=True)
        response = client.post("/admin/login/verify", data={
            "csrf_token": csrf_from(page), "code": pyotp.TOTP(secret).now()})
        assert response.status_code == 302, response.status_code
        return user

    return sign_in
