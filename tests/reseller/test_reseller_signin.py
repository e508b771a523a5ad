"""Signing in to the reseller portal: password, network, rate limit, two-step codes."""

from __future__ import annotations

import re
import time

import pyotp
from sqlalchemy import select

from commerce.models import User
from commissions.models import Reseller

PASSWORD = "reseller password 2026"  # noqa: S105 - the login tests/reseller/conftest.py creates
WRONG = "E-mail address or password is wrong."


def test_a_reseller_signs_in_on_their_network_partners_shop(client, world, sign_in):
    response = sign_in("reseau-n", "a@dupont.example")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/p/reseau-n/reseller/")
    page = client.get("/p/reseau-n/reseller/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Dupont Informatique" in html and "RP-AAAA" in html
    assert page.headers["Cache-Control"] == "no-store"


def test_the_portal_sends_strangers_to_the_sign_in_page(client, world):
    response = client.get("/p/reseau-n/reseller/clients")
    assert response.status_code == 302
    assert "/p/reseau-n/reseller/signin?next=" in response.headers["Location"]


def test_signing_in_returns_to_the_page_asked_for(client, world, form_token):
    asked = client.get("/p/reseau-n/reseller/commissions")
    assert asked.status_code == 302
    signin_url = asked.headers["Location"]
    token = form_token(signin_url)
    response = client.post(signin_url, data={"csrf_token": token, "email": "a@dupont.example",
                                             "password": PASSWORD})
    assert response.headers["Location"] == "/p/reseau-n/reseller/commissions"


def test_signing_in_never_sends_to_another_site(client, world, form_token):
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example/"):
        url = f"/p/reseau-n/reseller/signin?next={target}"
        token = form_token(url)
        response = client.post(url, data={"csrf_token": token, "email": "a@dupont.example",
                                          "password": PASSWORD})
        assert response.headers["Location"] == "/p/reseau-n/reseller/", target
        client.post("/p/reseau-n/reseller/signout",
                    data={"csrf_token": form_token("/p/reseau-n/reseller/")})


def test_a_wrong_password_is_refused_with_the_error_beside_the_field(client, world, sign_in):
    response = sign_in("reseau-n", "a@dupont.example", "not the password")
    assert response.status_code == 401
    html = response.get_data(as_text=True)
    assert WRONG in html and 'aria-invalid="true"' in html
    assert client.get("/p/reseau-n/reseller/").status_code == 302


def test_a_reseller_of_another_network_gets_the_same_error_as_a_wrong_password(
        client, world, sign_in):
    response = sign_in("reseau-n", "c@martin.example")
    assert response.status_code == 401
    assert WRONG in response.get_data(as_text=True)
    assert client.get("/p/reseau-n/reseller/").status_code == 302


def test_a_buyer_account_cannot_enter_the_portal(client, world, sign_in, make_user):
    make_user(email="buyer@example.com", password=PASSWORD)
    response = sign_in("reseau-n", "buyer@example.com")
    assert response.status_code == 401
    assert WRONG in response.get_data(as_text=True)


def test_an_inactive_reseller_cannot_sign_in(client, world, sign_in, db):
    world.a.active = False
    db.session.commit()
    assert sign_in("reseau-n", "a@dupont.example").status_code == 401


def test_a_session_from_one_network_does_not_open_another_networks_portal(
        client, world, sign_in):
    assert sign_in("reseau-m", "c@martin.example").status_code == 302
    assert client.get("/p/reseau-m/reseller/").status_code == 200
    response = client.get("/p/reseau-n/reseller/")
    assert response.status_code == 302
    assert "/p/reseau-n/reseller/signin" in response.headers["Location"]


def test_the_portal_is_not_served_on_the_platform_host(client, world):
    assert client.get("/reseller/signin").status_code == 404


def test_sign_in_attempts_are_rate_limited(test_settings, _schema, make_partner):
    from app import create_app
    from extensions import db

    app = create_app({**test_settings, "RATELIMIT_ENABLED": True})
    with app.app_context():
        make_partner(slug="limited")
        client = app.test_client()
        html = client.get("/p/limited/reseller/signin").get_data(as_text=True)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
        codes = [client.post("/p/limited/reseller/signin", data={
            "csrf_token": token, "email": "x@example.com", "password": "nope"}).status_code
            for _ in range(12)]
        db.session.remove()
        db.engine.dispose()  # this app's own pool: close its connections before it goes
    # Five failures at one account, from anywhere, then it is closed for a while.
    assert codes[:5] == [401] * 5 and codes[5:] == [429] * 7


def _enrol(client, form_token) -> str:
    """Turn two-step sign-in on from the security page; return the secret."""
    html = client.get("/p/reseau-n/reseller/security").get_data(as_text=True)
    uri = re.search(r'href="(otpauth://[^"]+)"', html).group(1)
    secret = re.search(r"secret=([A-Z2-7]+)", uri).group(1)
    assert "issuer=R%C3%A9seau%20N" in uri.replace("&amp;", "&")
    assert 'src="data:image/svg+xml;base64,' in html
    assert " ".join(secret[i:i + 4] for i in range(0, len(secret), 4)) in html
    token = form_token("/p/reseau-n/reseller/security")
    response = client.post("/p/reseau-n/reseller/security/totp",
                           data={"csrf_token": token, "code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302
    return secret


def test_enrolling_a_second_factor_needs_a_valid_code(client, world, sign_in, form_token, db):
    sign_in("reseau-n", "a@dupont.example")
    token = form_token("/p/reseau-n/reseller/security")
    response = client.post("/p/reseau-n/reseller/security/totp",
                           data={"csrf_token": token, "code": "000000"})
    assert response.status_code == 400
    assert "This code does not match" in response.get_data(as_text=True)
    db.session.expire_all()
    assert _stored_secret(db, world) is None

    secret = _enrol(client, form_token)
    db.session.expire_all()
    stored = _stored_secret(db, world)
    assert stored and len(stored) <= 100 and secret not in stored
    assert "Two-step sign-in is on" in client.get("/p/reseau-n/reseller/security").get_data(
        as_text=True)


def test_with_a_second_factor_sign_in_asks_for_the_code(client, world, sign_in, form_token):
    sign_in("reseau-n", "a@dupont.example")
    secret = _enrol(client, form_token)
    client.post("/p/reseau-n/reseller/signout",
                data={"csrf_token": form_token("/p/reseau-n/reseller/")})
    assert client.get("/p/reseau-n/reseller/").status_code == 302

    response = sign_in("reseau-n", "a@dupont.example")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/p/reseau-n/reseller/signin/code")
    # Half signed in: the password alone opens nothing.
    assert client.get("/p/reseau-n/reseller/").status_code == 302
    token = form_token("/p/reseau-n/reseller/signin/code")
    wrong = client.post("/p/reseau-n/reseller/signin/code",
                        data={"csrf_token": token, "code": "123456"})
    assert wrong.status_code == 401
    assert "This code is wrong or has expired" in wrong.get_data(as_text=True)
    right = client.post("/p/reseau-n/reseller/signin/code",
                        data={"csrf_token": token, "code": _next_code(secret)})
    assert right.status_code == 302
    assert right.headers["Location"].endswith("/p/reseau-n/reseller/")
    assert client.get("/p/reseau-n/reseller/").status_code == 200


def test_the_code_step_expires_after_five_minutes(client, world, sign_in, form_token):
    sign_in("reseau-n", "a@dupont.example")
    secret = _enrol(client, form_token)
    client.post("/p/reseau-n/reseller/signout",
                data={"csrf_token": form_token("/p/reseau-n/reseller/")})
    sign_in("reseau-n", "a@dupont.example")
    token = form_token("/p/reseau-n/reseller/signin/code")
    with client.session_transaction() as session:
        session["reseller_half_signed_in"] = {**session["reseller_half_signed_in"],
                                              "at": int(time.time()) - 301}
    response = client.post("/p/reseau-n/reseller/signin/code",
                           data={"csrf_token": token, "code": _next_code(secret)})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/p/reseau-n/reseller/signin")
    assert client.get("/p/reseau-n/reseller/").status_code == 302


def test_the_code_step_of_one_network_does_not_serve_another(client, world, sign_in, form_token,
                                                             db):
    sign_in("reseau-n", "a@dupont.example")
    _enrol(client, form_token)
    client.post("/p/reseau-n/reseller/signout",
                data={"csrf_token": form_token("/p/reseau-n/reseller/")})
    sign_in("reseau-n", "a@dupont.example")
    assert client.get("/p/reseau-m/reseller/signin/code").status_code == 302


def test_turning_the_second_factor_off_needs_a_current_code(client, world, sign_in, form_token,
                                                            db):
    sign_in("reseau-n", "a@dupont.example")
    secret = _enrol(client, form_token)
    token = form_token("/p/reseau-n/reseller/security")
    assert client.post("/p/reseau-n/reseller/security/totp/disable",
                       data={"csrf_token": token, "code": "000000"}).status_code == 400
    assert client.post("/p/reseau-n/reseller/security/totp/disable",
                       data={"csrf_token": token,
                             "code": _next_code(secret)}).status_code == 302
    db.session.expire_all()
    assert _stored_secret(db, world) is None


def _stored_secret(db, world) -> str | None:
    """The reseller's sealed TOTP secret, kept on their user account."""
    reseller = db.session.get(Reseller, world.a.id)
    return db.session.scalar(select(User.totp_secret).where(User.id == reseller.user_id))


def _next_code(secret: str) -> str:
    """The code of the next 30-second step (accepted for clock drift), unused by the enrolment."""
    return pyotp.TOTP(secret).at(time.time() + 30)


def test_a_two_step_code_is_accepted_only_once(client, world, sign_in, form_token):
    sign_in("reseau-n", "a@dupont.example")
    secret = _enrol(client, form_token)
    code = _next_code(secret)
    for expected in (302, 401):
        client.post("/p/reseau-n/reseller/signout",
                    data={"csrf_token": form_token("/p/reseau-n/reseller/")})
        sign_in("reseau-n", "a@dupont.example")
        token = form_token("/p/reseau-n/reseller/signin/code")
        response = client.post("/p/reseau-n/reseller/signin/code",
                               data={"csrf_token": token, "code": code})
        assert response.status_code == expected


def test_once_the_code_is_on_a_session_without_it_opens_nothing(app, client, world, sign_in,
                                                                 form_token):
    """Another browser signed in with the password before two-step sign-in was turned on."""
    older = app.test_client()
    html = older.get("/p/reseau-n/reseller/signin").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    older.post("/p/reseau-n/reseller/signin", data={
        "csrf_token": token, "email": "a@dupont.example", "password": PASSWORD})
    assert older.get("/p/reseau-n/reseller/").status_code == 200
    sign_in("reseau-n", "a@dupont.example")
    before = client.get_cookie("comptoir_session").value
    _enrol(client, form_token)
    assert client.get_cookie("comptoir_session").value != before  # a new id with the factor
    assert client.get("/p/reseau-n/reseller/").status_code == 200
    assert older.get("/p/reseau-n/reseller/").status_code == 302


def test_a_reseller_with_a_code_cannot_skip_it_at_the_buyer_door(client, world, sign_in,
                                                                 form_token):
    sign_in("reseau-n", "a@dupont.example")
    _enrol(client, form_token)
    client.post("/p/reseau-n/reseller/signout",
                data={"csrf_token": form_token("/p/reseau-n/reseller/")})
    token = form_token("/p/reseau-n/account/signin")
    response = client.post("/p/reseau-n/account/signin", data={
        "csrf_token": token, "email": "a@dupont.example", "password": PASSWORD})
    assert response.status_code == 401
    assert client.get("/p/reseau-n/reseller/").status_code == 302
    assert client.get("/p/reseau-n/account/").status_code == 302


def test_a_reseller_changes_the_password_with_twelve_characters_at_least(client, world, sign_in,
                                                                         form_token):
    sign_in("reseau-n", "a@dupont.example")
    url = "/p/reseau-n/reseller/security/password"
    short = client.post(url, data={"csrf_token": form_token(url), "current": PASSWORD,
                                   "password": "gX9!vq2#Lm4", "confirm": "gX9!vq2#Lm4"})
    assert short.status_code == 400 and "12" in short.get_data(as_text=True)
    done = client.post(url, data={"csrf_token": form_token(url), "current": PASSWORD,
                                  "password": "a new reseller passphrase",
                                  "confirm": "a new reseller passphrase"})
    assert done.status_code == 302
    client.post("/p/reseau-n/reseller/signout",
                data={"csrf_token": form_token("/p/reseau-n/reseller/")})
    assert sign_in("reseau-n", "a@dupont.example", "a new reseller passphrase").status_code == 302
