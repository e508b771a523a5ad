"""The operator door: a password, then always a second factor; throttled, logged, passkeys."""

from __future__ import annotations

import json
import logging
import re
import time

import pyotp
import pytest
from sqlalchemy import select
from support.authenticator import SoftAuthenticator

from accounts import factors
from accounts.models import AuthSession, Passkey
from accounts.totp import new_secret
from commerce.models import User

PASSWORD = "operator password 2026"  # noqa: S105 - a test account's


def _csrf(client, url: str) -> str:
    html = client.get(url).get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def _password(client, email="op@comptoir.example", password=PASSWORD):
    return client.post("/admin/login", data={"csrf_token": _csrf(client, "/admin/login"),
                                             "email": email, "password": password})


def _code(client, code: str):
    return client.post("/admin/login/verify", data={
        "csrf_token": _csrf(client, "/admin/login/verify"), "code": code})


@pytest.fixture
def operator(db, make_user):
    user = make_user(email="op@comptoir.example", role="operator", password=PASSWORD)
    secret = new_secret()
    factors.set_totp_secret(user, secret)
    db.session.commit()
    user.secret = secret  # for the test's authenticator app
    return user


def test_an_operator_without_a_second_factor_gets_no_session(client, db, make_user, caplog):
    make_user(email="op@comptoir.example", role="operator", password=PASSWORD)
    with caplog.at_level(logging.WARNING, "comptoir.security"):
        response = _password(client)
    assert response.status_code == 403
    assert "comptoir operators reset-totp op@comptoir.example" in response.get_data(as_text=True)
    assert "no second factor" in caplog.text
    assert client.get("/admin/").status_code == 302
    assert db.session.scalar(select(AuthSession)) is None


def test_the_password_alone_opens_no_operator_page(client, operator, db):
    assert _password(client).headers["Location"].endswith("/admin/login/verify")
    for page in ("/admin/", "/admin/people", "/admin/partners", "/admin/security"):
        response = client.get(page)
        assert response.status_code == 302 and "/admin/login" in response.headers["Location"]
    assert db.session.scalar(select(AuthSession)) is None


def test_password_then_code_opens_a_session_recording_both_factors(client, operator, db):
    _password(client)
    response = _code(client, pyotp.TOTP(operator.secret).now())
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/")
    assert client.get("/admin/").status_code == 200
    record = db.session.scalar(select(AuthSession))
    assert (record.door, record.factors) == ("operator", "password,totp")


def test_a_wrong_code_is_refused_and_logged(client, operator, caplog):
    _password(client)
    with caplog.at_level(logging.WARNING, "comptoir.security"):
        response = _code(client, "000000")
    assert response.status_code == 401
    assert "wrong two-step code" in caplog.text and "op@comptoir.example" in caplog.text
    assert client.get("/admin/").status_code == 302


def test_a_code_is_accepted_once(app, client, operator):
    code = pyotp.TOTP(operator.secret).now()
    _password(client)
    assert _code(client, code).status_code == 302
    other = app.test_client()
    _password(other)
    assert _code(other, code).status_code == 401


def test_a_failed_password_is_logged_with_the_address(client, operator, caplog):
    with caplog.at_level(logging.WARNING, "comptoir.security"):
        assert _password(client, password="not it").status_code == 401
    assert "operator sign-in failed for op@comptoir.example from 127.0.0.1" in caplog.text


def test_the_second_step_expires_after_five_minutes(client, operator):
    _password(client)
    with client.session_transaction() as session:
        session["operator_pending"] = {**session["operator_pending"],
                                       "at": int(time.time()) - 301}
    response = client.post("/admin/login/verify", data={
        "csrf_token": _csrf(client, "/admin/login"), "code": pyotp.TOTP(operator.secret).now()})
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/login")
    assert client.get("/admin/").status_code == 302


def test_operator_sign_in_is_limited_per_account_and_per_address(
    test_settings, _schema, make_user
):
    from app import create_app
    from extensions import db

    app = create_app({**test_settings, "RATELIMIT_ENABLED": True,
                      "TRUSTED_PROXIES": "127.0.0.1"})
    with app.app_context():
        make_user(email="op@comptoir.example", role="operator", password=PASSWORD)
        client = app.test_client()

        def attempt(email: str, address: str) -> int:
            headers = {"X-Forwarded-For": address}
            html = client.get("/admin/login", headers=headers).get_data(as_text=True)
            token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
            return client.post("/admin/login", headers=headers, data={
                "csrf_token": token, "email": email, "password": "guess"}).status_code

        spread = [attempt("op@comptoir.example", f"203.0.113.{n}") for n in range(1, 8)]
        one_address = [attempt(f"op{n}@comptoir.example", "198.51.100.9") for n in range(12)]
        db.session.remove()
        db.engine.dispose()
    assert spread == [401] * 5 + [429] * 2
    assert one_address == [401] * 10 + [429] * 2


def test_an_operator_adds_a_passkey_and_signs_in_with_it(client, operator, sign_in_operator,
                                                        db):
    sign_in_operator(client)
    authenticator = SoftAuthenticator(origin="http://localhost")
    csrf = _csrf(client, "/admin/security")
    options = client.post("/admin/security/passkeys/options",
                          headers={"X-CSRFToken": csrf}).get_json()
    assert options["rp"]["id"] == "localhost"
    registered = client.post("/admin/security/passkeys", headers={"X-CSRFToken": csrf},
                             json={"name": "YubiKey", "credential": authenticator.create(options)})
    assert registered.status_code == 200, registered.get_json()
    stored = db.session.scalar(select(Passkey))
    assert (stored.name, stored.rp_id) == ("YubiKey", "localhost")
    client.post("/admin/logout", data={"csrf_token": _csrf(client, "/admin/security")})

    _password(client)
    csrf = _csrf(client, "/admin/login/verify")
    assert "Use my passkey" in client.get("/admin/login/verify").get_data(as_text=True)
    options = client.post("/admin/login/passkey/options",
                          headers={"X-CSRFToken": csrf}).get_json()
    answer = client.post("/admin/login/passkey", headers={"X-CSRFToken": csrf},
                         json=authenticator.get(options, "localhost"))
    assert answer.status_code == 200 and answer.get_json()["redirect"].endswith("/admin/")
    assert client.get("/admin/").status_code == 200
    record = db.session.scalars(select(AuthSession).order_by(AuthSession.created_at)).all()[-1]
    assert record.factors == "passkey,password"
    db.session.refresh(stored)
    assert stored.sign_count == 1 and stored.last_used_at is not None


@pytest.mark.parametrize("spoil", ["signature", "origin", "challenge"])
def test_a_passkey_answer_that_does_not_check_out_opens_nothing(
    client, operator, db, spoil
):
    authenticator = SoftAuthenticator(origin="http://localhost")
    _register_directly(db, operator, authenticator)
    _password(client)
    csrf = _csrf(client, "/admin/login/verify")
    options = client.post("/admin/login/passkey/options",
                          headers={"X-CSRFToken": csrf}).get_json()
    if spoil == "origin":
        authenticator.origin = "https://evil.example"
    if spoil == "challenge":
        options = {**options, "challenge": "AAAAAAAAAAAAAAAAAAAAAA"}
    answer = authenticator.get(options, "localhost")
    if spoil == "signature":
        answer["response"]["signature"] = answer["response"]["signature"][:-4] + "AAAA"
    response = client.post("/admin/login/passkey", headers={"X-CSRFToken": csrf},
                           data=json.dumps(answer), content_type="application/json")
    assert response.status_code == 401
    assert client.get("/admin/").status_code == 302
    assert db.session.scalar(select(AuthSession)) is None


def test_the_last_second_factor_cannot_be_removed(client, db, make_user, sign_in_operator):
    user = sign_in_operator(client)
    authenticator = SoftAuthenticator(origin="http://localhost")
    passkey = _register_directly(db, user, authenticator)
    user = db.session.get(User, user.id)
    user.totp_secret = None
    db.session.commit()
    response = client.post(f"/admin/security/passkeys/{passkey.id}/remove",
                           data={"csrf_token": _csrf(client, "/admin/security")})
    assert response.status_code == 302
    assert db.session.get(Passkey, passkey.id) is not None


def _register_directly(db, user: User, authenticator: SoftAuthenticator) -> Passkey:
    """Register the authenticator's credential through the service, as the security page does."""
    from support.authenticator import b64url

    from accounts.factors import RelyingParty, register_passkey

    options = {"rp": {"id": "localhost"}, "challenge": b64url(b"registration-challenge")}
    passkey = register_passkey(user, RelyingParty("localhost", "http://localhost"),
                               authenticator.create(options), b"registration-challenge", "key")
    db.session.commit()
    return passkey
