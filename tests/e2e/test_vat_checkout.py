"""Checkout in the buyer's own VAT, clicked through in Chromium: a German consumer sees German
VAT before ordering, a German business with a VAT number is reverse-charged, and the card's
country is kept beside the billing country."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

pytestmark = pytest.mark.e2e


def _to_checkout(page: Any, live_server: Any) -> None:
    page.goto(live_server.shop("numeriland", "products/OFFICE-HOME-2024-WIN?lang=en"))
    page.get_by_role("button", name="Add to cart").click()
    expect(page).to_have_url(re.compile(r"/cart$"))
    page.get_by_role("link", name="Checkout").click()
    expect(page.get_by_role("heading", level=1, name="Checkout")).to_be_visible()


def _order(live_server: Any, email: str) -> dict[str, Any]:
    from commerce.models import Order
    from extensions import db

    with live_server.app.app_context():
        order = db.session.scalar(select(Order).where(Order.email == email))
        found = {"treatment": str(order.tax_treatment), "country": order.vat_country,
                 "total": order.total_cents, "vat": order.vat_cents,
                 "card": order.card_country, "conflict": order.location_conflict,
                 "paid": str(order.payment_status), "vies": order.vies_status}
        db.session.remove()
    return found


def test_a_german_consumer_and_a_german_business_each_pay_their_vat(
        new_page: Any, live_server: Any) -> None:
    page = new_page()
    _to_checkout(page, live_server)
    summary = page.get_by_role("complementary", name="Order summary")
    expect(summary).to_contain_text("VAT 20 % (France)")
    expect(summary.locator("[data-total]")).to_have_text("€139.90")
    page.get_by_label("Billing country").select_option("DE")
    page.get_by_role("button", name="Update the total").click()
    expect(summary).to_contain_text("VAT 19 % (Germany)")
    expect(summary.locator("[data-total]")).to_have_text("€138.73")  # 116,58 € + 19 %
    page.get_by_label("E-mail address").fill("lena@example.de")
    page.get_by_label("Full name").fill("Lena Schmidt")
    page.locator("#consent").check()
    page.locator("#terms").check()
    page.get_by_role("button", name="Order with obligation to pay").click()
    expect(page.get_by_role("heading", level=1, name="Test payment")).to_be_visible()
    expect(page.get_by_label("Card number")).to_have_value(re.compile(r"^4000 0027 6"))
    page.get_by_role("button", name=re.compile(r"^Pay ")).click()
    expect(page.locator(".confirmation h1")).to_have_text("Thank you! Your order is confirmed.")
    assert _order(live_server, "lena@example.de") == {
        "treatment": "standard", "country": "DE", "total": 13873, "vat": 13873 - 11658,
        "card": "DE", "conflict": False, "paid": "paid", "vies": None}

    page = new_page()
    _to_checkout(page, live_server)
    page.get_by_label("E-mail address").fill("einkauf@mueller.example.de")
    page.get_by_label("Full name").fill("Jonas Müller")
    page.get_by_label("Company (optional)").fill("Müller GmbH")
    page.get_by_label("VAT number (optional)").fill("DE 136 695 976")
    page.get_by_label("Address", exact=True).fill("Hauptstraße 1")
    page.get_by_label("Postcode").fill("10115")
    page.get_by_label("City").fill("Berlin")
    page.get_by_label("Billing country").select_option("DE")
    page.locator("#consent").check()
    page.locator("#terms").check()
    page.get_by_role("button", name="Order with obligation to pay").click()
    # The total changed (reverse charge): shown first, ordered on the second click.
    summary = page.get_by_role("complementary", name="Order summary")
    expect(page.locator("#total-changed")).to_contain_text("reverse-charged")
    expect(summary).to_contain_text("VAT 0 % (reverse charge)")
    expect(summary.locator("[data-total]")).to_have_text("€116.58")
    page.get_by_role("button", name="Order with obligation to pay").click()
    page.get_by_role("button", name=re.compile(r"^Pay ")).click()
    expect(page.locator(".confirmation h1")).to_have_text("Thank you! Your order is confirmed.")
    assert _order(live_server, "einkauf@mueller.example.de") == {
        "treatment": "reverse_charge", "country": "DE", "total": 11658, "vat": 0,
        "card": "DE", "conflict": False, "paid": "paid", "vies": "valid"}
