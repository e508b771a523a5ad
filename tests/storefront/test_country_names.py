"""Countries are shown by their names in the page's language, never as bare codes."""

from __future__ import annotations

import re

from sqlalchemy import select

from commerce.models import Order


def _placed_in_germany(add_to_cart, checkout, db) -> Order:
    add_to_cart("shop-a", "OFFICE-HOME-2024-WIN")
    checkout("shop-a", billing_country="DE", billing_line1="Unter den Linden 1",
             billing_postcode="10117", billing_city="Berlin")
    return db.session.scalar(select(Order))


def test_the_order_page_names_the_billing_and_vat_country_in_each_language(
        client, shops, add_to_cart, checkout, db):
    order = _placed_in_germany(add_to_cart, checkout, db)
    assert (order.billing_country, order.vat_country) == ("DE", "DE")
    french = client.get(f"/p/shop-a/orders/{order.id}?lang=fr").get_data(as_text=True)
    billed = re.search(r'id="order-billing-title".*?</section>', french, re.S).group(0)
    assert "Allemagne" in billed and "Berlin" in billed
    assert "TVA (Allemagne)" in french
    english = client.get(f"/p/shop-a/orders/{order.id}?lang=en").get_data(as_text=True)
    assert "VAT (Germany)" in english and "<br>Germany</p>" in english
    assert not re.search(r"[>\s(]DE[<\s)]", english)  # the code itself is not shown


def test_the_back_office_order_page_names_the_countries(client, shops, add_to_cart, checkout,
                                                         db, sign_in_operator):
    order = _placed_in_germany(add_to_cart, checkout, db)
    operator = client.application.test_client()
    sign_in_operator(operator)
    page = operator.get(f"/admin/orders/{order.id}?lang=en").get_data(as_text=True)
    assert "Germany (DE)" in page and "VAT of Germany" in page
    assert "billing Germany · IP — · card —" in page


def test_vat_prefixes_that_are_not_iso_codes_are_named_too(app):
    from flask_babel import force_locale

    from storefront.shop.pricing import country_name

    with app.test_request_context(), force_locale("en"):
        assert (country_name("EL"), country_name("GR"), country_name("de")) == (
            "Greece", "Greece", "Germany")
