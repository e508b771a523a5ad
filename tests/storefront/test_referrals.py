"""Whose order it is: prepared cart > typed code > referral link > attached client."""

from __future__ import annotations

import time

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import select

from commerce.models import Order
from commissions import attribution_for, create_reseller
from storefront.shop.referrals import COOKIE, cart_link_token


@pytest.fixture
def resellers(shops, db):
    a1 = create_reseller(shops.a, "Info Services Lyon", "lyon@example.com", code="RA-LYON")
    a2 = create_reseller(shops.a, "PC Dépannage Nantes", "nantes@example.com", code="RA-NANTES")
    b1 = create_reseller(shops.b, "Réseau B", "b@example.com", code="RB-ONE")
    db.session.commit()
    return {"a1": a1, "a2": a2, "b1": b1}


def _order_rule(db) -> tuple[str | None, str | None]:
    order = db.session.scalar(select(Order).order_by(Order.created_at.desc()))
    attribution = attribution_for(order.id)
    if attribution is None or attribution.reseller is None:
        return None, None
    return attribution.reseller.code, str(attribution.rule)


def test_a_referral_link_is_remembered_and_credits_the_reseller(
    client, resellers, add_to_cart, checkout, db
):
    response = client.get("/p/shop-a/?ref=RA-LYON")
    assert COOKIE in response.headers.get("Set-Cookie", "")
    assert "Max-Age=2592000" in response.headers["Set-Cookie"]  # 30 days by default
    add_to_cart("shop-a", "OFFICE-HOME-2024-WIN")
    checkout("shop-a")
    assert _order_rule(db) == ("RA-LYON", "cookie")


def test_a_code_typed_at_checkout_wins_over_the_link(client, resellers, add_to_cart, checkout, db):
    client.get("/p/shop-a/products?ref=RA-LYON")
    add_to_cart("shop-a", "OFFICE-HOME-2024-WIN")
    checkout("shop-a", reseller_code="ra-nantes")
    assert _order_rule(db) == ("RA-NANTES", "code")


def test_a_code_from_another_network_credits_nobody(client, resellers, add_to_cart, checkout, db):
    add_to_cart("shop-a", "OFFICE-HOME-2024-WIN")
    checkout("shop-a", reseller_code="RB-ONE")
    assert _order_rule(db) == (None, None)


def test_a_link_followed_on_another_partners_shop_does_not_count(
    client, resellers, add_to_cart, checkout, db
):
    client.get("/p/shop-b/?ref=RB-ONE")
    add_to_cart("shop-a", "OFFICE-HOME-2024-WIN")
    checkout("shop-a")
    assert _order_rule(db) == (None, None)


def test_a_referral_older_than_the_window_is_ignored(
    client, app, resellers, add_to_cart, checkout, db
):
    class LongAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 31 * 24 * 3600

    old = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="referral", signer=LongAgo)
    client.set_cookie(COOKIE, old.dumps({"p": "shop-a", "c": "RA-LYON"}), domain="localhost")
    add_to_cart("shop-a", "OFFICE-HOME-2024-WIN")
    checkout("shop-a")
    assert _order_rule(db) == (None, None)


def test_a_forged_referral_cookie_is_ignored(client, resellers, add_to_cart, checkout, db):
    client.set_cookie(
        COOKIE, "eyJwIjoic2hvcC1hIiwiYyI6IlJBLUxZT04ifQ.forged.sig", domain="localhost"
    )
    add_to_cart("shop-a", "OFFICE-HOME-2024-WIN")
    checkout("shop-a")
    assert _order_rule(db) == (None, None)


def test_a_cart_prepared_by_a_reseller_is_theirs(client, app, resellers, checkout, db):
    with app.test_request_context():
        from partners.lookup import partner_by_slug

        token = cart_link_token(
            partner_by_slug("shop-a"),
            "RA-NANTES",
            [{"code": "OFFICE-HOME-2024-WIN", "q": 2, "a": ["ADDON-BACKUP-2Y"]}],
        )
    client.get("/p/shop-a/?ref=RA-LYON")
    response = client.get(f"/p/shop-a/cart/from/{token}")
    assert response.status_code == 302
    checkout("shop-a", reseller_code="RA-LYON")
    order = db.session.scalar(select(Order))
    assert [(line.product_code, line.quantity) for line in order.lines] == [
        ("OFFICE-HOME-2024-WIN", 2),
        ("ADDON-BACKUP-2Y", 2),
    ]
    assert _order_rule(db) == ("RA-NANTES", "assisted")


def test_a_prepared_cart_link_for_another_shop_or_tampered_is_refused(client, app, resellers):
    with app.test_request_context():
        from partners.lookup import partner_by_slug

        token = cart_link_token(
            partner_by_slug("shop-b"), "RB-ONE", [{"code": "OFFICE-HOME-2024-WIN", "q": 1}]
        )
    assert client.get(f"/p/shop-a/cart/from/{token}").status_code == 404
    assert client.get(f"/p/shop-b/cart/from/{token[:-2]}xx").status_code == 404


def test_a_returning_buyer_is_credited_to_their_reseller(app, resellers, db, shops):
    from commerce.orders import BuyerDetails, LineRequest, place_order
    from commissions import attach_client, attribute_order

    first = place_order(
        shops.a, [LineRequest("OFFICE-HOME-2024-WIN", 1)], BuyerDetails("fidele@example.com", "F")
    )
    db.session.flush()
    attribute_order(first, reseller_code="RA-LYON")
    first.payment_status = "paid"
    db.session.commit()
    attach_client(first.id)
    later = place_order(
        shops.a, [LineRequest("WIN11-PRO", 1)], BuyerDetails("FIDELE@example.com", "F")
    )
    db.session.flush()
    result = attribute_order(later)
    db.session.commit()
    assert result.reseller.code == "RA-LYON" and str(result.rule) == "attached_client"
