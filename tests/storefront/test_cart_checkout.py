"""Cart and checkout: prices from the database, bad input refused, nothing changed."""

from __future__ import annotations

import re
from decimal import Decimal

from sqlalchemy import func, select
from support.shops import SAME_ORIGIN

from commerce.models import Order, OrderLine, PaymentStatus


def _count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_cart_add_change_and_remove(client, shops, add_to_cart, form_token):
    assert add_to_cart("shop-a", "OFFICE-HOME-2024-WIN", 2).status_code == 302
    html = client.get("/p/shop-a/cart").get_data(as_text=True)
    assert re.search(r"278,00\s€", html)
    token = form_token("/p/shop-a/cart")
    response = client.post(
        "/p/shop-a/cart/update/OFFICE-HOME-2024-WIN", data={"csrf_token": token, "quantity": 3}
    )
    assert response.status_code == 302
    assert re.search(r"417,00\s€", client.get("/p/shop-a/cart").get_data(as_text=True))
    client.post("/p/shop-a/cart/remove/OFFICE-HOME-2024-WIN", data={"csrf_token": token})
    assert "Office Famille 2024" not in client.get("/p/shop-a/cart").get_data(as_text=True)


def test_adding_twice_adds_up_but_never_past_ten(client, shops, add_to_cart):
    add_to_cart("shop-a", "OFFICE-HOME-2024-WIN", 8)
    add_to_cart("shop-a", "OFFICE-HOME-2024-WIN", 8)
    html = client.get("/p/shop-a/cart").get_data(as_text=True)
    assert 'value="10"' in html


def test_quantities_out_of_range_are_refused_with_a_message(client, shops, add_to_cart):
    for quantity in (0, -3, 11, 10**9, "abc", ""):
        response = add_to_cart("shop-a", "OFFICE-HOME-2024-WIN", quantity)
        assert response.status_code == 400, quantity
        assert 'class="error"' in response.get_data(as_text=True)
    assert "Office Famille 2024" not in client.get("/p/shop-a/cart").get_data(as_text=True)


def test_unknown_product_is_a_404(client, shops):
    assert (
        client.post(
            "/p/shop-a/cart/add/NO-SUCH", data={"quantity": 1}, headers=SAME_ORIGIN
        ).status_code
        == 404
    )
    assert client.get("/p/shop-a/products/NO-SUCH").status_code == 404


def test_an_addon_cannot_be_bought_as_a_product(client, shops):
    response = client.post(
        "/p/shop-a/cart/add/ADDON-BACKUP-2Y", data={"quantity": 1}, headers=SAME_ORIGIN
    )
    assert response.status_code == 404


def test_missing_csrf_token_without_origin_is_refused_and_changes_nothing(client, shops):
    response = client.post("/p/shop-a/cart/add/OFFICE-HOME-2024-WIN", data={"quantity": 1})
    assert response.status_code == 403
    assert "Office Famille 2024" not in client.get("/p/shop-a/cart").get_data(as_text=True)


def test_prices_and_partner_tampered_in_the_form_are_ignored(
    client, shops, add_to_cart, checkout, db
):
    add_to_cart(
        "shop-a",
        "OFFICE-HOME-2024-WIN",
        1,
        price="1",
        price_cents="1",
        unit_price_cents="1",
        partner_id=str(shops.b.id),
        partner="shop-b",
    )
    checkout("shop-a", total_cents="1", partner_id=str(shops.b.id), price="0")
    order = db.session.scalar(select(Order))
    assert order.partner_id == shops.a.id
    assert order.total_cents == 13900


def test_checkout_records_lines_vat_totals_and_consent(client, shops, add_to_cart, checkout, db):
    add_to_cart("shop-a", "OFFICE-HOME-2024-WIN", 2, backup="y", install="y")
    add_to_cart("shop-a", "WIN11-PRO", 1)
    response = checkout("shop-a", company="Boulangerie Martin", vat_number="fr 40 303265045",
                        billing_line1="3 rue du Four", billing_postcode="75006",
                        billing_city="Paris")
    assert response.status_code == 302 and "/pay/test/" in response.location
    order = db.session.scalar(select(Order))
    assert re.fullmatch(r"CPT-\d{4}-\d{6}", order.number)
    assert order.email == "camille@example.com" and order.vat_number == "FR40303265045"
    assert (order.billing_line1, order.billing_postcode, order.billing_city) == (
        "3 rue du Four", "75006", "Paris")
    assert order.tax_treatment == "standard" and order.vat_country == "FR"
    assert order.vies_status is None  # a French number pays French VAT: VIES is not asked
    assert order.payment_status == PaymentStatus.PENDING
    assert order.consent_at is not None and order.consent_wording_version
    codes = [(line.product_code, line.quantity, line.unit_price_cents) for line in order.lines]
    assert codes == [
        ("OFFICE-HOME-2024-WIN", 2, 13900),
        ("ADDON-BACKUP-2Y", 2, 990),
        ("ADDON-INSTALL", 2, 2900),
        ("WIN11-PRO", 1, 25900),
    ]
    office = order.lines[0]
    assert [a.product_code for a in office.addons] == ["ADDON-BACKUP-2Y", "ADDON-INSTALL"]
    assert (
        office.vat_rate == Decimal("20.00") and office.vat_cents == 4633
    )  # 27800 - round(27800 / 1.2)
    assert order.total_cents == 27800 + 1980 + 5800 + 25900
    assert order.vat_cents == sum(line.vat_cents for line in order.lines)


def test_checkout_without_consent_is_refused_beside_the_box(
    client, shops, add_to_cart, checkout, db
):
    add_to_cart("shop-a", "OFFICE-HOME-2024-WIN")
    response = checkout("shop-a", consent=None)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'id="consent-error"' in html and 'aria-describedby="consent-error"' in html
    assert _count(db, Order) == 0


def test_consent_box_is_unticked_by_default_and_order_button_says_obligation_to_pay(
    client, shops, add_to_cart
):
    add_to_cart("shop-a", "OFFICE-HOME-2024-WIN")
    html = client.get("/p/shop-a/checkout?lang=en").get_data(as_text=True)
    consent = re.search(r'<input type="checkbox" id="consent"[^>]*>', html).group(0)
    assert "checked" not in consent
    assert "Order with obligation to pay" in html


def test_checkout_field_errors_are_shown_beside_their_fields(
    client, shops, add_to_cart, checkout, db
):
    add_to_cart("shop-a", "OFFICE-HOME-2024-WIN")
    response = checkout(
        "shop-a", email="not-an-email", name="", vat_number="12", billing_country="US"
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    for field in ("email", "name", "vat_number", "billing_country"):
        assert f'id="{field}-error"' in html, field
    assert _count(db, Order) == 0


def test_checkout_with_an_empty_cart_goes_back_to_the_cart(client, shops):
    response = client.get("/p/shop-a/checkout")
    assert response.status_code == 302 and response.location.endswith("/p/shop-a/cart")


def test_a_product_withdrawn_after_adding_is_dropped_from_the_cart(client, shops, add_to_cart, db):
    add_to_cart("shop-a", "WIN11-PRO")
    shops.windows.is_active = False
    db.session.commit()
    html = client.get("/p/shop-a/cart").get_data(as_text=True)
    assert "WIN11-PRO" in html  # named in the notice
    assert 'class="cart-table"' not in html  # and no line is left to buy


def test_prices_are_recomputed_when_the_partner_changes_them(
    client, shops, add_to_cart, checkout, db
):
    add_to_cart("shop-a", "OFFICE-HOME-2024-WIN")
    offer = next(o for o in shops.a.offers if o.product_id == shops.office.id)
    offer.price_cents = 12000
    db.session.commit()
    checkout("shop-a")
    assert db.session.scalar(select(Order)).total_cents == 12000


def test_oversized_body_is_refused(client, shops):
    response = client.post(
        "/p/shop-a/cart/add/OFFICE-HOME-2024-WIN",
        data={"quantity": 1, "junk": "x" * (3 * 1024 * 1024)}, headers=SAME_ORIGIN,
    )
    assert response.status_code == 413


def test_order_lines_reject_quantities_outside_one_to_ten_in_the_schema(shops, db):
    import pytest
    from sqlalchemy.exc import IntegrityError

    from commerce.orders import BuyerDetails, LineRequest, OrderError, place_order

    with pytest.raises(OrderError):
        place_order(shops.a, [LineRequest("OFFICE-HOME-2024-WIN", 11)], BuyerDetails("a@b.fr", "A"))
    order = place_order(
        shops.a, [LineRequest("OFFICE-HOME-2024-WIN", 1)], BuyerDetails("a@b.fr", "A")
    )
    order.lines[0].quantity = 50
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    assert _count(db, OrderLine) == 0
