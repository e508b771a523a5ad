"""The accounts migration: resellers keep their second factor, staff count as confirmed."""

from __future__ import annotations

import base64
import os
import uuid
from contextlib import contextmanager

import pyotp
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask_migrate import upgrade
from sqlalchemy import text

from app import create_app
from extensions import db

BEFORE = "797ee97b74cc"


@contextmanager
def _scratch_database(database_url: str, tmp_path):
    if not database_url.startswith("postgresql"):
        yield f"sqlite:///{tmp_path / 'before.db'}"
        return
    from support.database import scratch_postgres

    with scratch_postgres(database_url, "migration_data") as url:
        yield url


def _old_seal(key: bytes, secret: str, reseller_id: uuid.UUID) -> str:
    """How the reseller portal sealed a secret before this migration."""
    nonce = os.urandom(12)
    owner = f"comptoir:reseller-totp:v1:{reseller_id}".encode()
    sealed = nonce + AESGCM(key).encrypt(nonce, base64.b32decode(secret), owner)
    return base64.urlsafe_b64encode(sealed).decode().rstrip("=")


def test_upgrading_moves_reseller_secrets_to_their_users_and_confirms_staff(
    test_settings, database_url, tmp_path
):
    with _scratch_database(database_url, tmp_path) as url:
        app = create_app({**test_settings, "DATABASE_URL": url,
                          "INSTANCE_PATH": str(tmp_path)})
        key = base64.urlsafe_b64decode(app.config["PRODUCT_KEYS_KEY"])
        secret = pyotp.random_base32(32)
        partner, user, reseller, buyer = (uuid.uuid4() for _ in range(4))
        with app.app_context():
            upgrade(revision=BEFORE)
            uid = (lambda u: u.hex) if url.startswith("sqlite") else str
            with db.engine.begin() as conn:
                conn.execute(text(
                    "INSERT INTO partners (id, slug, name, kind, wholesaler_code, allow_failover,"
                    " backup_by_default, primary_color, secondary_color, accent_color, font,"
                    " tagline, legal_notice, support_email, support_phone, embed_origins,"
                    " is_active, created_at) VALUES (:id, 'n', 'N', 'channel', 'nexway', false,"
                    " false, '#000000', '#ffffff', '#cccccc', 'system', '', '', '', '', '', true,"
                    " CURRENT_TIMESTAMP)"), {"id": uid(partner)})
                for who, role in ((user, "reseller"), (buyer, "buyer")):
                    conn.execute(text(
                        "INSERT INTO users (id, email, name, password_hash, role, active,"
                        " created_at) VALUES (:id, :email, '', 'x', :role, true,"
                        " CURRENT_TIMESTAMP)"), {"id": uid(who), "email": f"{role}@x.example",
                                                 "role": role})
                conn.execute(text(
                    "INSERT INTO resellers (id, partner_id, code, name, email, user_id,"
                    " totp_secret, totp_last_step, active, created_at) VALUES (:id, :partner,"
                    " 'RP-AAAA', 'R', 'reseller@x.example', :user, :sealed, 42, true,"
                    " CURRENT_TIMESTAMP)"),
                    {"id": uid(reseller), "partner": uid(partner), "user": uid(user),
                     "sealed": _old_seal(key, secret, reseller)})
            upgrade()
            from accounts.totp import open_secret
            from commerce.models import User

            moved = db.session.get(User, user)
            assert open_secret(moved.totp_secret, str(user)) == secret
            assert moved.totp_last_step == 42 and moved.email_verified_at is not None
            assert db.session.get(User, buyer).email_verified_at is None  # never proven
            db.session.remove()
            db.engine.dispose()
