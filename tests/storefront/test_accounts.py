"""Buyer accounts: sign up, sign in (rate-limited), history per shop, claiming a guest order."""

from __future__ import annotations

import re

from sqlalchemy import select

from commerce.models import Order, User


def _signup(client, form_token, email="camille@example.com", password="a long enough password"):
    token = form_token("/p/shop-a/account/signup")
    return client.post(
        "/p/shop-a/account/signup",
        data={
            "csrf_token": token,
            "name": "Camille",
            "email": email,
            "password": password,
            "confirm": password,
        },
    )


def test_signup_stores_an_argon2_hash_and_signs_in(client, shops, form_token, db):
    response = _signup(client, form_token)
    assert response.status_code == 302
    user = db.session.scalar(select(User))
    assert user.password_hash.startswith("$argon2id$")
    assert client.get("/p/shop-a/account/").status_code == 200


def test_signup_refuses_a_short_password_and_a_taken_email(client, app, shops, form_token, db):
    assert _signup(client, form_token, password="short").status_code == 400
    assert _signup(client, form_token).status_code == 302
    other = app.test_client()
    token = re.search(
        r'name="csrf_token"[^>]*value="([^"]+)"',
        other.get("/p/shop-a/account/signup").get_data(as_text=True),
    ).group(1)
    response = other.post(
        "/p/shop-a/account/signup",
        data={
            "csrf_token": token,
            "name": "X",
            "email": "CAMILLE@example.com",
            "password": "a long enough password",
            "confirm": "a long enough password",
        },
    )
    assert response.status_code == 400 and 'id="email-error"' in response.get_data(as_text=True)


def test_wrong_password_is_refused(client, shops, make_user, form_token):
    make_user(email="b@example.com", password="the right password")
    token = form_token("/p/shop-a/account/signin")
    response = client.post(
        "/p/shop-a/account/signin",
        data={"csrf_token": token, "email": "b@example.com", "password": "the wrong password"},
    )
    assert response.status_code == 401
    assert client.get("/p/shop-a/account/").status_code == 302


def test_sign_in_attempts_are_rate_limited(test_settings, _schema, make_partner):
    from app import create_app
    from extensions import db

    app = create_app({**test_settings, "RATELIMIT_ENABLED": True})
    with app.app_context():
        make_partner(slug="limited")
        client = app.test_client()
        html = client.get("/p/limited/account/signin").get_data(as_text=True)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
        codes = [
            client.post(
                "/p/limited/account/signin",
                data={"csrf_token": token, "email": "x@example.com", "password": "nope"},
            ).status_code
            for _ in range(12)
        ]
        db.session.remove()
    assert codes[:10] == [401] * 10 and codes[10:] == [429, 429]


def test_orders_placed_signed_in_appear_in_the_account_of_that_shop_only(
    client, shops, form_token, add_to_cart, checkout, db
):
    _signup(client, form_token)
    add_to_cart("shop-a", "OFFICE-HOME-2024-WIN")
    checkout("shop-a")
    order = db.session.scalar(select(Order))
    assert order.buyer_id is not None
    assert order.number in client.get("/p/shop-a/account/").get_data(as_text=True)
    assert order.number not in client.get("/p/shop-b/account/").get_data(as_text=True)


def test_a_guest_order_is_claimed_into_an_account_once(
    client, app, shops, form_token, add_to_cart, checkout, db
):
    add_to_cart("shop-a", "OFFICE-HOME-2024-WIN")
    checkout("shop-a")
    order = db.session.scalar(select(Order))
    page = client.get(f"/p/shop-a/orders/{order.id}").get_data(as_text=True)
    claim_url = re.search(r'href="(/p/shop-a/account/claim/[^"]+)"', page).group(1)
    _signup(client, form_token)
    token = form_token(claim_url)
    assert client.post(claim_url, data={"csrf_token": token}).status_code == 302
    db.session.refresh(order)
    assert order.buyer_id == db.session.scalar(select(User.id))
    assert order.claim_token_hash is None
    thief = app.test_client()
    _signup(
        thief,
        lambda url: re.search(
            r'name="csrf_token"[^>]*value="([^"]+)"', thief.get(url).get_data(as_text=True)
        ).group(1),
        email="thief@example.com",
    )
    html = thief.get(claim_url).get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    thief.post(claim_url, data={"csrf_token": token})
    db.session.refresh(order)
    assert order.buyer.email == "camille@example.com"


def test_sign_in_redirect_refuses_other_sites(client, shops, make_user, form_token):
    make_user(email="b@example.com", password="the right password")
    token = form_token("/p/shop-a/account/signin")
    response = client.post(
        "/p/shop-a/account/signin?next=https://evil.example/",
        data={"csrf_token": token, "email": "b@example.com", "password": "the right password"},
    )
    assert response.status_code == 302 and "evil" not in response.location
