"""Buyer accounts: sign-up that tells nobody who has an account, a proven address, the buyer door.

The attack this file closes: someone signs up with a guest buyer's address and reads that
buyer's orders, keys, licences and backups. A new account reaches only what it placed itself
until its owner opens the single-use link sent to the address.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update
from support.links import shop_path

from accounts.models import EmailToken
from commerce.models import Order, User
from extensions import utcnow

PASSWORD = "a long enough password"  # noqa: S105 - a test account's


def _signup(client, form_token, email="camille@example.com", password=PASSWORD, slug="shop-a"):
    token = form_token(f"/p/{slug}/account/signup")
    return client.post(f"/p/{slug}/account/signup", data={
        "csrf_token": token, "name": "Camille", "email": email, "password": password,
        "confirm": password})


def _signin(client, form_token, email="camille@example.com", password=PASSWORD, slug="shop-a"):
    token = form_token(f"/p/{slug}/account/signin")
    return client.post(f"/p/{slug}/account/signin",
                       data={"csrf_token": token, "email": email, "password": password})


def _verify(client, form_token, mailbox, email="camille@example.com"):
    """Open the confirmation link of the last e-mail to the address, as its owner would."""
    message = mailbox.wait_for(email)[-1]
    [link] = mailbox.links(message, "/account/verify/")
    followed = client.get(shop_path(link))
    assert followed.status_code == 302 and followed.headers["Location"].endswith("/account/verify")
    landing = followed.headers["Location"]
    page = client.get(landing)
    if page.status_code != 200:
        return page  # used, expired or unknown: no button to press
    return client.post(landing, data={"csrf_token": _csrf_value(page.get_data(as_text=True))})


def test_signup_stores_an_argon2_hash_and_sends_a_confirmation_link(
    client, shops, form_token, db, mailbox
):
    response = _signup(client, form_token)
    assert response.status_code == 200 and "camille@example.com" in response.get_data(as_text=True)
    user = db.session.scalar(select(User))
    assert user.password_hash.startswith("$argon2id$")
    assert user.email_verified_at is None
    [message] = mailbox.wait_for("camille@example.com")
    [link] = mailbox.links(message, "/account/verify/")
    assert link.startswith("http://shop-a.example:5000/account/verify/")  # the shop's own domain
    token = link.rsplit("/", 1)[1]
    stored = db.session.scalar(select(EmailToken))
    assert stored.token_hash != token and token not in stored.token_hash


def test_signup_answers_the_same_whether_or_not_the_address_has_an_account(
    app, client, shops, form_token, db, mailbox, make_user
):
    make_user(email="taken@example.com", password="the owner's password")
    fresh = _signup(client, form_token, email="new@example.com")
    other = app.test_client()
    taken = other.post("/p/shop-a/account/signup", data={
        "csrf_token": _csrf(other, "/p/shop-a/account/signup"), "name": "X",
        "email": "TAKEN@example.com", "password": PASSWORD, "confirm": PASSWORD})
    assert fresh.status_code == taken.status_code == 200
    normalise = lambda html, email: html.replace(email, "ADDRESS")  # noqa: E731
    assert normalise(fresh.get_data(as_text=True), "new@example.com") == normalise(
        taken.get_data(as_text=True), "taken@example.com")
    # The owner is told, and the existing account is untouched.
    [told] = mailbox.wait_for("taken@example.com")
    assert "You already have an account" in told["Subject"] or "déjà" in told["Subject"]
    assert mailbox.links(told, "/account/reset/")
    owner = db.session.scalar(select(User).where(User.email == "taken@example.com"))
    assert owner.name != "X"
    assert db.session.scalar(select(User).where(User.email == "new@example.com")) is not None


def test_signup_refuses_short_and_common_passwords_naming_the_field(client, shops, form_token):
    for weak in ("short", "password1234", "azertyuiop12"):
        response = _signup(client, form_token, password=weak)
        assert response.status_code == 400
        assert 'id="password-error"' in response.get_data(as_text=True)


def test_a_stranger_signing_up_with_a_guest_buyers_address_reaches_nothing(
    app, client, shops, form_token, add_to_cart, checkout, pay_with_test_card, db, mailbox
):
    """The guest buys on two shops; the stranger signs up with the address and signs in."""
    for slug in ("shop-a", "shop-b"):
        add_to_cart(slug, "OFFICE-HOME-2024-WIN", backup="y")
        pay_with_test_card(checkout(slug, email="guest@example.com").headers["Location"])
    orders = db.session.scalars(select(Order)).all()
    assert len(orders) == 2 and all(o.buyer_id is None for o in orders)

    stranger = app.test_client()
    stranger_token = lambda url: _csrf(stranger, url)  # noqa: E731
    _signup(stranger, stranger_token, email="guest@example.com")
    assert _signin(stranger, stranger_token, email="guest@example.com").status_code == 302
    for slug in ("shop-a", "shop-b"):
        account = stranger.get(f"/p/{slug}/account/").get_data(as_text=True)
        assert all(o.number not in account for o in orders)
        assert stranger.get(f"/p/{slug}/backups/").status_code == 302  # to "find my licence"
        for order in orders:
            assert stranger.get(f"/p/{slug}/orders/{order.id}").status_code == 404
            assert stranger.post(f"/p/{slug}/orders/{order.id}/claim", data={
                "csrf_token": stranger_token(f"/p/{slug}/account/")}).status_code == 404
    assert all(o.buyer_id is None for o in db.session.scalars(select(Order)))


def test_a_confirmed_address_brings_its_guest_orders_into_the_account(
    client, shops, form_token, add_to_cart, checkout, pay_with_test_card, db, mailbox
):
    add_to_cart("shop-a", "OFFICE-HOME-2024-WIN")
    pay_with_test_card(checkout("shop-a", email="camille@example.com").headers["Location"])
    order = db.session.scalar(select(Order))
    _signup(client, form_token)
    _signin(client, form_token)
    assert order.number not in client.get("/p/shop-a/account/").get_data(as_text=True)
    confirmed = _verify(client, form_token, mailbox)
    assert confirmed.status_code == 302 and confirmed.headers["Location"].endswith("/account/")
    assert order.number in client.get("/p/shop-a/account/").get_data(as_text=True)
    assert client.get(f"/p/shop-a/orders/{order.id}").status_code == 200
    # The link worked once.
    assert _verify(client, form_token, mailbox).status_code == 410


def test_a_confirmation_link_expires(client, shops, form_token, db, mailbox):
    _signup(client, form_token)
    db.session.execute(update(EmailToken).values(expires_at=utcnow() - timedelta(minutes=1)))
    db.session.commit()
    assert _verify(client, form_token, mailbox).status_code == 410
    assert db.session.scalar(select(User)).email_verified_at is None


def test_orders_placed_signed_in_appear_in_the_account_of_that_shop_only(
    client, shops, form_token, add_to_cart, checkout, db, mailbox
):
    _signup(client, form_token)
    _signin(client, form_token)
    add_to_cart("shop-a", "OFFICE-HOME-2024-WIN")
    checkout("shop-a")
    order = db.session.scalar(select(Order))
    assert order.buyer_id is not None  # placed signed in, even before the address is proven
    assert order.number in client.get("/p/shop-a/account/").get_data(as_text=True)
    assert order.number not in client.get("/p/shop-b/account/").get_data(as_text=True)


def test_wrong_password_is_refused(client, shops, make_user, form_token):
    make_user(email="b@example.com", password="the right password")
    response = _signin(client, form_token, email="b@example.com", password="the wrong password")
    assert response.status_code == 401
    assert client.get("/p/shop-a/account/").status_code == 302


@pytest.mark.parametrize("role", ["operator", "reseller"])
def test_the_buyer_door_signs_in_buyers_only(client, shops, make_user, form_token, role):
    make_user(email="staff@example.com", password="staff password 2026", role=role)
    response = _signin(client, form_token, email="staff@example.com",
                       password="staff password 2026")
    assert response.status_code == 401
    assert client.get("/p/shop-a/account/").status_code == 302


def test_sign_in_is_limited_per_address_and_per_account(test_settings, _schema, make_partner):
    from app import create_app
    from extensions import db

    app = create_app({**test_settings, "RATELIMIT_ENABLED": True,
                      "TRUSTED_PROXIES": "127.0.0.1"})
    with app.app_context():
        make_partner(slug="limited")
        client = app.test_client()

        def attempt(email: str, address: str) -> int:
            headers = {"X-Forwarded-For": address}
            token = _csrf(client, "/p/limited/account/signin", headers=headers)
            return client.post("/p/limited/account/signin", headers=headers, data={
                "csrf_token": token, "email": email, "password": "nope"}).status_code

        # One account, guessed at from many addresses: five failures, then it is closed.
        spread = [attempt("x@example.com", f"203.0.113.{n}") for n in range(1, 8)]
        # One address, guessing at many accounts: ten a minute, then it is closed.
        from_one = [attempt(f"user{n}@example.com", "198.51.100.7") for n in range(12)]
        db.session.remove()
        db.engine.dispose()
    assert spread == [401] * 5 + [429] * 2
    assert from_one == [401] * 10 + [429] * 2


def test_sign_in_redirect_refuses_other_sites(client, shops, make_user, form_token):
    make_user(email="b@example.com", password="the right password")
    token = form_token("/p/shop-a/account/signin")
    response = client.post(
        "/p/shop-a/account/signin?next=https://evil.example/",
        data={"csrf_token": token, "email": "b@example.com", "password": "the right password"},
    )
    assert response.status_code == 302 and "evil" not in response.location


def test_a_password_reset_proves_the_address_and_ends_every_session(
    app, client, shops, form_token, db, mailbox, make_user
):
    user = make_user(email="camille@example.com", password=PASSWORD, email_verified_at=None)
    other_device = app.test_client()
    assert _signin(other_device, lambda u: _csrf(other_device, u)).status_code == 302
    token = form_token("/p/shop-a/account/reset")
    assert client.post("/p/shop-a/account/reset", data={
        "csrf_token": token, "email": "camille@example.com"}).status_code == 200
    [message] = mailbox.wait_for("camille@example.com")
    [link] = mailbox.links(message, "/account/reset/")
    landing = client.get(shop_path(link)).headers["Location"]
    assert link.rsplit("/", 1)[1] not in landing
    weak = client.post(landing, data={"csrf_token": form_token(landing),
                                      "password": "password1234", "confirm": "password1234"})
    assert weak.status_code == 400
    done = client.post(landing, data={"csrf_token": form_token(landing),
                                      "password": "a brand new passphrase",
                                      "confirm": "a brand new passphrase"})
    assert done.status_code == 302
    db.session.refresh(user)
    assert user.email_verified_at is not None
    assert other_device.get("/p/shop-a/account/").status_code == 302  # its session ended
    assert _signin(client, form_token, password="a brand new passphrase").status_code == 302
    assert client.get(shop_path(link), follow_redirects=True).status_code == 410


def test_a_reset_for_an_unknown_address_answers_the_same_and_sends_nothing(
    client, shops, form_token, mailbox, smtp_mailbox
):
    response = client.post("/p/shop-a/account/reset", data={
        "csrf_token": form_token("/p/shop-a/account/reset"), "email": "nobody@example.com"})
    assert response.status_code == 200 and "nobody@example.com" in response.get_data(as_text=True)
    assert mailbox.to("nobody@example.com") == []


def _csrf(client, url, **kwargs) -> str:
    return _csrf_value(client.get(url, **kwargs).get_data(as_text=True))


def _csrf_value(html: str) -> str:
    import re

    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
