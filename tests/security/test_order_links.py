"""An e-mailed order link opens the order on any device: signed, expiring, revocable, one shop."""

from __future__ import annotations

import re
import time

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import select
from support.links import shop_path

from commerce import access
from commerce.models import Order

PASSWORD = "a long enough password"  # noqa: S105 - a test account's


def _csrf(client, url: str) -> str:
    html = client.get(url).get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


@pytest.fixture
def order(shops, add_to_cart, checkout, pay_with_test_card, db) -> Order:
    """A guest's paid order, placed in the fixture's own browser."""
    add_to_cart("shop-a", "OFFICE-HOME-2024-WIN")
    pay_with_test_card(checkout("shop-a", email="guest@example.com").headers["Location"])
    return db.session.scalar(select(Order))


def _aged_token(app, order: Order, seconds: int) -> str:
    """A genuine link signed `seconds` ago (the signer's clock, not the test's, is moved)."""

    class Earlier(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - seconds

    serializer = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=access.SALT,
                                        signer=Earlier)
    return serializer.dumps({"o": str(order.id), "v": order.access_version})


def test_the_link_is_on_the_shops_domain_and_opens_the_order_on_another_device(app, order):
    url = access.access_url(order)
    assert url.startswith("http://shop-a.example:5000/orders/access/")
    phone = app.test_client()
    assert phone.get(f"/p/shop-a/orders/{order.id}").status_code == 404
    opened = phone.get(shop_path(url))
    assert opened.status_code == 302
    assert opened.headers["Location"] == f"/p/shop-a/orders/{order.id}"  # the token is gone
    page = phone.get(opened.headers["Location"])
    assert page.status_code == 200 and order.number in page.get_data(as_text=True)


def test_the_same_link_works_on_the_shops_own_domain(app, order):
    url = access.access_url(order)
    phone = app.test_client()
    opened = phone.get(url.replace(":5000", ""))  # Host: shop-a.example
    assert opened.status_code == 302 and opened.headers["Location"] == f"/orders/{order.id}"
    assert phone.get(f"http://shop-a.example/orders/{order.id}").status_code == 200


def test_a_link_does_not_open_the_order_on_another_partners_shop(app, order):
    token = access.access_token(order)
    stranger = app.test_client()
    assert stranger.get(f"/p/shop-b/orders/access/{token}").status_code == 404
    assert stranger.get(f"/p/shop-b/orders/{order.id}").status_code == 404


def test_a_tampered_or_foreign_token_opens_nothing(app, order):
    token = access.access_token(order)
    stranger = app.test_client()
    tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    assert stranger.get(f"/p/shop-a/orders/access/{tampered}").status_code == 404
    forged = URLSafeTimedSerializer("not our secret", salt=access.SALT).dumps(
        {"o": str(order.id), "v": 1})
    assert stranger.get(f"/p/shop-a/orders/access/{forged}").status_code == 404
    assert stranger.get(f"/p/shop-a/orders/{order.id}").status_code == 404


def test_an_expired_link_offers_a_new_one_sent_to_the_orders_address(app, order, mailbox):
    token = _aged_token(app, order, seconds=access.max_age() + 60)
    phone = app.test_client()
    landing = phone.get(f"/p/shop-a/orders/access/{token}")
    assert landing.headers["Location"] == "/p/shop-a/orders/access/expired"
    assert phone.get(f"/p/shop-a/orders/{order.id}").status_code == 404
    page = phone.get("/p/shop-a/orders/access/expired")
    assert page.status_code == 200 and token not in page.get_data(as_text=True)
    sent = phone.post("/p/shop-a/orders/access/expired",
                      data={"csrf_token": _csrf(phone, "/p/shop-a/orders/access/expired")})
    assert sent.status_code == 200 and "guest@example.com" not in sent.get_data(as_text=True)
    [message] = mailbox.wait_for("guest@example.com")
    [link] = mailbox.links(message, "/orders/access/")
    assert phone.get(shop_path(link), follow_redirects=True).status_code == 200


def test_an_operator_withdraws_the_links_and_sends_a_new_one(
    app, client, order, sign_in_operator, mailbox
):
    old = access.access_url(order)
    operator = app.test_client()
    sign_in_operator(operator)
    operator.post(f"/admin/orders/{order.id}/revoke-links",
                  data={"csrf_token": _csrf(operator, f"/admin/orders/{order.id}")})
    phone = app.test_client()
    refused = phone.get(shop_path(old))
    assert refused.status_code == 410
    assert "ne fonctionne plus" in refused.get_data(as_text=True)  # "no longer works"
    operator.post(f"/admin/orders/{order.id}/send-link",
                  data={"csrf_token": _csrf(operator, f"/admin/orders/{order.id}")})
    [message] = mailbox.wait_for("guest@example.com")
    [link] = mailbox.links(message, "/orders/access/")
    assert link != old
    assert phone.get(shop_path(link), follow_redirects=True).status_code == 200


def test_an_order_opened_by_its_link_can_be_added_to_the_signed_in_account(
    app, order, make_user, db
):
    user = make_user(email="camille@example.com", password=PASSWORD)
    phone = app.test_client()
    phone.post("/p/shop-a/account/signin", data={
        "csrf_token": _csrf(phone, "/p/shop-a/account/signin"), "email": user.email,
        "password": PASSWORD})
    phone.get(shop_path(access.access_url(order)))
    page = phone.get(f"/p/shop-a/orders/{order.id}").get_data(as_text=True)
    assert f"/p/shop-a/orders/{order.id}/claim" in page
    claimed = phone.post(f"/p/shop-a/orders/{order.id}/claim",
                         data={"csrf_token": _csrf(phone, f"/p/shop-a/orders/{order.id}")})
    assert claimed.status_code == 302
    db.session.refresh(order)
    assert order.buyer_id == user.id
    assert order.number in phone.get("/p/shop-a/account/").get_data(as_text=True)


def test_the_delivery_e_mail_links_to_the_order_on_the_partners_domain(app, order):
    from fulfilment.emails import render_email
    from fulfilment.models import OutgoingEmail

    mail = render_email(OutgoingEmail(key=f"delivery:{order.id}", order_id=order.id,
                                      kind="delivery"))
    links = re.findall(r"https?://\S+/orders/access/\S+", mail.text)
    assert links and all(u.startswith("http://shop-a.example:5000/") for u in links)
    phone = app.test_client()
    assert phone.get(shop_path(links[0]), follow_redirects=True).status_code == 200
