"""VAT by country at the shop: each EU consumer pays their own country's VAT, a business of
another member state with a number VIES confirms is reverse-charged, a French one pays French
VAT; the buyer sees every change of total before paying; location evidence is kept."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from support.shops import quoted_total

from commerce.models import Order, PaymentStatus
from fulfilment.models import OutgoingEmail
from payments.held import recheck_held_orders
from payments.test_gateway import country_card

OFFICE = "OFFICE-HOME-2024-WIN"  # 139,00 € at shop-a, VAT included at 20 %
GERMAN_BUSINESS = {"company": "Bäckerei Müller GmbH", "vat_number": "DE 136 695 976",
                   "billing_line1": "Hauptstraße 1", "billing_postcode": "10115",
                   "billing_city": "Berlin", "billing_country": "DE"}


def _orders(db) -> int:
    return db.session.scalar(select(func.count()).select_from(Order))


def test_a_french_consumer_pays_french_vat(shops, add_to_cart, checkout, db, vies):
    add_to_cart("shop-a", OFFICE)
    response = checkout("shop-a")
    assert response.status_code == 302
    order = db.session.scalar(select(Order))
    assert (order.tax_treatment, order.vat_country, order.total_cents) == ("standard", "FR", 13900)
    assert order.lines[0].vat_rate == Decimal("20.00") and order.vat_cents == 13900 - 11583
    assert vies.checks == []


def test_a_german_consumer_sees_german_vat_before_paying_and_pays_it(
        client, shops, add_to_cart, checkout, db, vies):
    add_to_cart("shop-a", OFFICE)
    first = checkout("shop-a", billing_country="DE", confirm_changes=False)
    assert first.status_code == 200 and _orders(db) == 0  # nothing placed on a changed total
    html = first.get_data(as_text=True)
    assert 'id="total-changed"' in html and re.search(r"137,84\s€", html)
    assert quoted_total(html) == "13784"  # 115,83 € before VAT, plus 19 %
    # From now on the shop shows the buyer's country's prices.
    product = client.get(f"/p/shop-a/products/{OFFICE}").get_data(as_text=True)
    assert re.search(r"137,84\s€", product) and "TVA 19 %" in product
    response = checkout("shop-a", billing_country="DE")
    assert response.status_code == 302 and "/pay/test/" in response.location
    order = db.session.scalar(select(Order))
    assert (order.tax_treatment, order.vat_country, order.billing_country) == (
        "standard", "DE", "DE")
    assert order.lines[0].vat_rate == Decimal("19.00")
    assert (order.total_cents, order.vat_cents) == (13784, 13784 - 11583)
    assert vies.checks == []  # a consumer: nobody to ask


def test_a_german_business_with_a_valid_number_is_reverse_charged(
        app, shops, add_to_cart, checkout, db, vies):
    # The merchant asks as itself: VIES answers a consultation number.
    app.config["PLATFORM_VAT_NUMBER"] = "FR40303265045"
    add_to_cart("shop-a", OFFICE, 2, backup="y")
    first = checkout("shop-a", confirm_changes=False, **GERMAN_BUSINESS)
    html = first.get_data(as_text=True)
    assert first.status_code == 200 and _orders(db) == 0
    assert "reverse-charged" in html or "autoliquidation" in html.lower()
    response = checkout("shop-a", **GERMAN_BUSINESS)
    assert response.status_code == 302
    order = db.session.scalar(select(Order))
    assert order.tax_treatment == "reverse_charge" and order.vat_country == "DE"
    assert order.vat_number == "DE136695976" and order.vat_cents == 0
    assert all(line.vat_rate == Decimal("0.00") and line.vat_cents == 0 for line in order.lines)
    assert order.lines[0].unit_price_cents == 11583  # the price before VAT
    assert order.vies_status == "valid" and re.fullmatch(r"WAPI\d{12}", order.vies_reference)
    assert order.vies_checked_at is not None
    assert (order.billing_line1, order.billing_city) == ("Hauptstraße 1", "Berlin")
    assert {"countryCode": "DE", "vatNumber": "136695976"} in vies.checks


def test_a_number_vies_does_not_know_is_refused_and_nothing_is_placed(
        shops, add_to_cart, checkout, db, vies):
    vies.unregistered.add("DE136695976")
    add_to_cart("shop-a", OFFICE)
    response = checkout("shop-a", **GERMAN_BUSINESS)
    assert response.status_code == 400 and _orders(db) == 0
    html = response.get_data(as_text=True)
    assert 'id="vat_number-error"' in html and "VIES" in html


@pytest.mark.parametrize("number, country", [
    ("DE136695977", "DE"),  # wrong check digit
    ("FR40303265045", "DE"),  # another country's number
    ("12", "FR"),
])
def test_a_malformed_or_foreign_number_is_refused_beside_its_field(
        shops, add_to_cart, checkout, db, vies, number, country):
    add_to_cart("shop-a", OFFICE)
    response = checkout("shop-a", **{**GERMAN_BUSINESS, "vat_number": number,
                                     "billing_country": country})
    assert response.status_code == 400 and _orders(db) == 0
    assert 'id="vat_number-error"' in response.get_data(as_text=True)
    assert vies.checks == []  # refused before anyone is asked


def test_a_business_gives_its_address(shops, add_to_cart, checkout, db):
    add_to_cart("shop-a", OFFICE)
    response = checkout("shop-a", company="Boulangerie Martin", billing_city="")
    assert response.status_code == 400 and _orders(db) == 0
    html = response.get_data(as_text=True)
    for field in ("billing_line1", "billing_postcode", "billing_city"):
        assert f'id="{field}-error"' in html


def test_a_french_business_pays_french_vat_with_its_number(shops, add_to_cart, checkout, db,
                                                           vies):
    add_to_cart("shop-a", OFFICE)
    checkout("shop-a", company="Boulangerie Martin", vat_number="FR40303265045",
             billing_line1="3 rue du Four", billing_postcode="75006", billing_city="Paris")
    order = db.session.scalar(select(Order))
    assert (order.tax_treatment, order.vat_country, order.vat_number) == (
        "standard", "FR", "FR40303265045")
    assert order.total_cents == 13900 and vies.checks == []


def test_vies_unavailable_charges_vat_by_default_and_says_so(
        shops, add_to_cart, checkout, db, vies):
    vies.down.add("DE")
    add_to_cart("shop-a", OFFICE)
    first = checkout("shop-a", confirm_changes=False, **GERMAN_BUSINESS)
    assert "cannot confirm your VAT number right now" in first.get_data(as_text=True) or \
        "ne peut pas confirmer" in first.get_data(as_text=True)
    checkout("shop-a", **GERMAN_BUSINESS)
    order = db.session.scalar(select(Order))
    assert order.tax_treatment == "standard" and order.vat_country == "DE"
    assert order.total_cents == 13784 and order.vies_status == "unavailable"


def test_vies_unavailable_can_hold_the_order_until_it_answers(
        app, client, shops, add_to_cart, checkout, db, vies):
    app.config["VIES_UNAVAILABLE"] = "hold"
    app.config["PLATFORM_VAT_NUMBER"] = "FR40303265045"
    vies.down.add("*")
    add_to_cart("shop-a", OFFICE)
    response = checkout("shop-a", **GERMAN_BUSINESS)
    order = db.session.scalar(select(Order))
    assert response.status_code == 302 and response.location.endswith(f"/orders/{order.id}")
    assert order.vies_status == "held" and order.gateway_reference is None  # no payment
    page = client.get(response.location).get_data(as_text=True)
    assert "could not confirm your VAT number yet" in page or "pas encore pu confirmer" in page
    assert "checkout/retry" not in page
    token = client.get("/p/shop-a/cart/summary").json["csrf_token"]  # no form on the page now
    retry = client.post(f"/p/shop-a/checkout/retry/{order.id}", data={"csrf_token": token})
    assert retry.status_code == 302
    db.session.refresh(order)
    assert order.gateway_reference is None

    assert recheck_held_orders().still_held == 1  # still down: still held
    vies.down.clear()
    report = recheck_held_orders()
    assert (report.released, report.still_held) == (1, 0)
    db.session.expire_all()
    order = db.session.get(Order, order.id)
    assert order.vies_status == "valid" and order.tax_treatment == "reverse_charge"
    assert order.total_cents == 11583 and order.vies_reference
    mail = db.session.scalar(select(OutgoingEmail).where(OutgoingEmail.kind == "released"))
    assert mail is not None and mail.key == f"released:{order.id}" and mail.status == "sent"
    assert recheck_held_orders().released == 0  # released once
    assert "checkout/retry" in client.get(f"/p/shop-a/orders/{order.id}").get_data(as_text=True)


def test_a_held_order_vies_still_cannot_check_is_released_with_vat_after_the_hold(
        app, shops, add_to_cart, checkout, db, vies):
    from datetime import UTC, datetime, timedelta

    app.config["VIES_UNAVAILABLE"] = "hold"
    vies.down.add("*")
    add_to_cart("shop-a", OFFICE)
    checkout("shop-a", **GERMAN_BUSINESS)
    later = datetime.now(UTC) + timedelta(hours=49)
    assert recheck_held_orders(now=later).released == 1
    order = db.session.scalar(select(Order))
    db.session.refresh(order)
    assert order.vies_status == "unavailable" and order.total_cents == 13784
    assert order.lines[0].vat_rate == Decimal("19.00")


def test_the_card_country_is_kept_as_evidence_beside_the_billing_country(
        shops, add_to_cart, checkout, pay_with_test_card, db):
    add_to_cart("shop-a", OFFICE)
    card_page = checkout("shop-a", billing_country="DE").location
    assert pay_with_test_card(card_page, country_card("DE")).status_code == 302
    order = db.session.scalar(select(Order))
    db.session.refresh(order)
    assert order.payment_status == PaymentStatus.PAID
    assert (order.card_country, order.location_conflict) == ("DE", False)


def test_evidence_that_contradicts_the_billing_country_is_flagged(
        app, client, shops, add_to_cart, checkout, pay_with_test_card, db):
    app.config["IP_COUNTRY_HEADER"] = "X-Country"
    client.environ_base["HTTP_X_COUNTRY"] = "FR"
    add_to_cart("shop-a", OFFICE)
    card_page = checkout("shop-a", billing_country="DE").location
    pay_with_test_card(card_page, country_card("FR"))
    order = db.session.scalar(select(Order))
    db.session.refresh(order)
    assert (order.ip_country, order.card_country) == ("FR", "FR")
    assert order.location_conflict is True


def test_the_visitors_country_sets_the_prices_they_are_shown(app, client, shops):
    app.config["IP_COUNTRY_HEADER"] = "X-Country"
    french = client.get(f"/p/shop-a/products/{OFFICE}").get_data(as_text=True)
    assert re.search(r"139,00\s€", french)
    hungarian = client.get(f"/p/shop-a/products/{OFFICE}",
                           headers={"X-Country": "HU"}).get_data(as_text=True)
    assert re.search(r"147,11\s€", hungarian) and "TVA 27 %" in hungarian  # 115,83 € + 27 %
    unknown = client.get(f"/p/shop-a/products/{OFFICE}",
                         headers={"X-Country": "US"}).get_data(as_text=True)
    assert re.search(r"139,00\s€", unknown)


def test_update_the_total_shows_the_new_country_without_placing_anything(
        client, shops, add_to_cart, db):
    add_to_cart("shop-a", OFFICE)
    html = client.get("/p/shop-a/checkout").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    response = client.post("/p/shop-a/checkout", data={
        "csrf_token": token, "billing_country": "HU", "update": "1"})
    assert response.status_code == 200 and _orders(db) == 0
    page = response.get_data(as_text=True)
    assert quoted_total(page) == "14711" and "27" in page


def test_the_back_office_shows_the_tax_the_vies_answer_and_a_contradiction(
        app, client, shops, add_to_cart, checkout, pay_with_test_card, db, vies,
        sign_in_operator):
    app.config["PLATFORM_VAT_NUMBER"] = "FR40303265045"
    app.config["IP_COUNTRY_HEADER"] = "X-Country"
    client.environ_base["HTTP_X_COUNTRY"] = "AT"
    add_to_cart("shop-a", OFFICE)
    pay_with_test_card(checkout("shop-a", **GERMAN_BUSINESS).location, country_card("AT"))
    order = db.session.scalar(select(Order))
    db.session.refresh(order)
    assert order.location_conflict is True
    staff = app.test_client()
    sign_in_operator(staff)
    page = staff.get(f"/admin/orders/{order.id}?lang=en").get_data(as_text=True)
    assert "reverse charge (Germany)" in page and order.vies_reference in page
    assert "contradicts the billing country" in page and "Hauptstraße 1" in page
    assert "billing Germany · IP Austria · card Austria" in page
    attention = staff.get("/admin/attention?lang=en").get_data(as_text=True)
    assert order.number in attention and "Location evidence to check" in attention
