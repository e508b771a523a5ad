"""An operator adds a passkey and signs in with it, in Chromium with its virtual authenticator."""

from __future__ import annotations

import re
from typing import Any

import pyotp
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

pytestmark = pytest.mark.e2e

EMAIL = "passkeys@comptoir.example"
PASSWORD = "operator passphrase 2026"  # noqa: S105 - a test account's


@pytest.fixture
def operator(live_server: Any) -> str:
    """An operator with TOTP, its secret returned for the first sign-in."""
    from accounts.factors import set_totp_secret
    from accounts.models import Passkey
    from accounts.totp import new_secret
    from commerce.models import Role, User
    from commerce.passwords import hash_password
    from extensions import db, utcnow

    secret = new_secret()
    with live_server.app.app_context():
        user = db.session.scalar(select(User).where(User.email == EMAIL))
        if user is None:
            user = User(email=EMAIL, name="Passkey Operator", role=Role.OPERATOR,
                        password_hash=hash_password(PASSWORD), email_verified_at=utcnow())
            db.session.add(user)
            db.session.flush()
        db.session.query(Passkey).filter(Passkey.user_id == user.id).delete()
        set_totp_secret(user, secret)
        db.session.commit()
        db.session.remove()
    return secret


def _password(page: Any, base: str) -> None:
    page.goto(f"{base}/admin/login")
    page.get_by_label("E-mail address").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1, name="Second step")).to_be_visible()


def test_an_operator_registers_a_passkey_and_signs_in_with_it(
    new_page: Any, live_server: Any, operator: str
) -> None:
    # A passkey belongs to a host name (not an address): the back office on localhost.
    base = live_server.url.replace("127.0.0.1", "localhost")
    page = new_page()
    page.goto(f"{base}/?lang=en")  # the language is kept per host
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "usb", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True}})

    _password(page, base)
    page.get_by_label("Six-digit code").fill(pyotp.TOTP(operator).now())
    page.get_by_role("button", name="Check the code").click()
    expect(page.get_by_role("heading", level=1, name="Orders")).to_be_visible()

    page.goto(f"{base}/admin/security")
    page.get_by_label("Name of the new passkey").fill("Security key")
    page.get_by_role("button", name="Add a passkey").click()
    expect(page.get_by_text("Passkey added")).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("Security key"))).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    _password(page, base)
    page.get_by_role("button", name="Use my passkey").click()
    expect(page.get_by_role("heading", level=1, name="Orders")).to_be_visible()

    from accounts.models import AuthSession
    from extensions import db

    with live_server.app.app_context():
        latest = db.session.scalars(select(AuthSession).order_by(
            AuthSession.created_at.desc())).first()
        assert latest.factors == "passkey,password"
        db.session.remove()
