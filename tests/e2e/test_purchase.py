"""A buyer's whole path through the browser, clicking as a person would, on two partners' shops."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

import demo

pytestmark = pytest.mark.e2e

GOOD_CARD = "4242 4242 4242 4242"
DECLINED_CARD = "4000 0000 0000 0002"
ORDER_NUMBER = re.compile(r"CPT-\d{4}-\d{6}")
BUYER = demo.LOGINS["buyer"]
OPERATOR = demo.LOGINS["operator"]


def _partner(slug: str) -> dict[str, Any]:
    return next(p for p in demo.PARTNERS if p["slug"] == slug)


def _rgb(hex_colour: str) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


def _open_shop(page: Any, live_server: Any, slug: str) -> None:
    page.goto(live_server.shop(slug, "?lang=en"))
    expect(page.get_by_role("banner")).to_be_visible()


def _add_to_cart(page: Any, product_name: str, quantity: int = 1, backup: bool = False) -> None:
    """From any shop page: open the catalogue, the product, and add it to the cart."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Catalogue").click()
    expect(page.get_by_role("heading", level=1, name="Catalogue")).to_be_visible()
    page.get_by_role("link", name=product_name, exact=True).first.click()
    expect(page.get_by_role("heading", level=1, name=product_name)).to_be_visible()
    page.get_by_label("Quantity").fill(str(quantity))
    if backup:
        page.get_by_label(re.compile("Licence backup, 2 years")).check()
    page.get_by_role("button", name="Add to cart").click()
    expect(page).to_have_url(re.compile(r"/cart$"))


def _fill_checkout(page: Any, email: str, name: str, consent: bool = True) -> None:
    page.get_by_role("link", name="Checkout").click()
    expect(page.get_by_role("heading", level=1, name="Checkout")).to_be_visible()
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Full name").fill(name)
    page.get_by_label("Billing country").select_option("FR")
    page.locator("#terms").check()
    if consent:
        page.locator("#consent").check()


def _pay(page: Any, card: str) -> None:
    expect(page.get_by_role("heading", level=1, name="Test payment")).to_be_visible()
    page.get_by_label("Card number").fill(card)
    page.get_by_role("button", name=re.compile(r"^Pay ")).click()


def _order_in_db(live_server: Any, number: str) -> Any:
    from commerce.models import Order
    from extensions import db

    with live_server.app.app_context():
        order = db.session.scalar(select(Order).where(Order.number == number))
        assert order is not None, f"order {number} is not in the database"
        found = {
            "partner": order.partner.slug,
            "payment": str(order.payment_status),
            "email": order.email,
            "buyer": order.buyer.email if order.buyer else None,
            "total": order.total_cents,
            "lines": [(line.product_code, line.quantity) for line in order.lines],
            "consent": order.consent_at is not None,
        }
        db.session.remove()
    return found


def _confirmed_order_number(page: Any) -> str:
    confirmation = page.locator(".confirmation")
    expect(confirmation.get_by_role("heading", level=1)).to_have_text(
        "Thank you! Your order is confirmed."
    )
    match = ORDER_NUMBER.search(confirmation.inner_text())
    assert match, f"no order number on the confirmation page: {confirmation.inner_text()!r}"
    payment = page.locator(".order-status dt", has_text="Payment").locator(
        "xpath=following-sibling::dd[1]"
    )
    expect(payment).to_have_text("Paid")
    return match.group(0)


def _sign_in_buyer(page: Any, login: dict[str, str]) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sign in").click()
    page.get_by_label("E-mail address").fill(login["email"])
    page.get_by_label("Password").fill(login["password"])
    page.get_by_role("button", name="Sign in").click()
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="My account")
    ).to_be_visible()


def _sign_in_operator(page: Any, live_server: Any, login: dict[str, str]) -> None:
    page.goto(f"{live_server.url}/admin/")
    expect(page.get_by_role("heading", level=1, name="Operator sign-in")).to_be_visible()
    page.get_by_label("E-mail address").fill(login["email"])
    page.get_by_label("Password").fill(login["password"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1, name="Second step")).to_be_visible()
    page.get_by_label("Six-digit code").fill(operator_code(live_server, login["email"]))
    page.get_by_role("button", name="Check the code").click()
    expect(page.get_by_role("heading", level=1, name="Orders")).to_be_visible()


def operator_code(live_server: Any, email: str) -> str:
    """The current code of the demo operator's authenticator (its secret is the demo's)."""
    import pyotp

    from accounts.totp import open_secret
    from commerce.models import User
    from extensions import db

    with live_server.app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        secret = open_secret(user.totp_secret, str(user.id))
        db.session.remove()
    return pyotp.TOTP(secret).now()


def _check_back_office(
    page: Any, live_server: Any, login: dict[str, str], numbers: dict[str, str]
) -> None:
    _sign_in_operator(page, live_server, login)
    for slug, number in numbers.items():
        row = page.get_by_role("row").filter(has=page.get_by_role("link", name=number, exact=True))
        expect(row).to_have_count(1)
        expect(row).to_contain_text(_partner(slug)["name"])
        expect(row.locator(".badge--paid")).to_be_visible()


def test_whole_purchase_on_two_partners_shops(new_page: Any, live_server: Any) -> None:
    numbers: dict[str, str] = {}

    # Numériland, as a guest: Office Home 2024 with the licence backup, two licences.
    page = new_page()
    _open_shop(page, live_server, "numeriland")
    _add_to_cart(page, "Office Home 2024", quantity=2, backup=True)
    cart = page.get_by_role("table", name="Items in your cart")
    expect(cart).to_contain_text("Office Home 2024")
    expect(cart).to_contain_text("Licence backup, 2 years")
    # (139,90 € + 9,90 €) × 2, recomputed by the server (English page: English number format).
    expect(cart.locator(".total")).to_have_text("€299.60")
    _fill_checkout(page, "camille.guest@example.com", "Camille Invitée")
    page.get_by_role("button", name="Order with obligation to pay").click()
    _pay(page, GOOD_CARD)
    numbers["numeriland"] = _confirmed_order_number(page)
    assert _order_in_db(live_server, numbers["numeriland"]) == {
        "partner": "numeriland",
        "payment": "paid",
        "email": "camille.guest@example.com",
        "buyer": None,
        "total": 29960,
        "lines": [("OFFICE-HOME-2024-WIN", 2), ("ADDON-BACKUP-2Y", 2)],
        "consent": True,
    }

    # Novatech, signed in as the demo buyer: Windows 11 Pro at Novatech's price;
    # the order lands in the account.
    buyer = BUYER
    page = new_page()
    _open_shop(page, live_server, "novatech")
    _sign_in_buyer(page, buyer)
    _add_to_cart(page, "Windows 11 Pro")
    page.get_by_role("link", name="Checkout").click()
    # Signed in: e-mail and name come from the account.
    expect(page.get_by_label("E-mail address")).to_have_value(buyer["email"])
    expect(page.get_by_label("Full name")).to_have_value(buyer["name"])
    page.locator("#consent").check()
    page.locator("#terms").check()
    page.get_by_role("button", name="Order with obligation to pay").click()
    _pay(page, GOOD_CARD)
    numbers["novatech"] = _confirmed_order_number(page)
    assert _order_in_db(live_server, numbers["novatech"]) == {
        "partner": "novatech",
        "payment": "paid",
        "email": buyer["email"],
        "buyer": buyer["email"],
        "total": 23900,
        "lines": [("WIN11-PRO", 1)],
        "consent": True,
    }
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My account").click()
    row = page.get_by_role("row").filter(
        has=page.get_by_role("link", name=numbers["novatech"], exact=True)
    )
    expect(row).to_have_count(1)
    expect(row.locator(".badge--paid")).to_be_visible()
    # The Numériland guest order is not Novatech's, nor this buyer's.
    expect(page.get_by_role("link", name=numbers["numeriland"])).to_have_count(0)

    # The operator sees both paid orders in the back office.
    _check_back_office(new_page(), live_server, OPERATOR, numbers)


def test_buying_needs_no_javascript(new_page: Any, live_server: Any) -> None:
    page = new_page(javascript=False)
    _open_shop(page, live_server, "novatech")
    _add_to_cart(page, "Microsoft 365 Family", quantity=3)
    _fill_checkout(page, "sans.js@example.com", "Sacha Sans-Script")
    page.get_by_role("button", name="Order with obligation to pay").click()
    _pay(page, GOOD_CARD)
    number = _confirmed_order_number(page)
    found = _order_in_db(live_server, number)
    assert (found["partner"], found["payment"], found["lines"]) == (
        "novatech",
        "paid",
        [("M365-FAMILY-1Y", 3)],
    )


def test_each_shop_wears_its_partners_brand(new_page: Any, live_server: Any) -> None:
    seen = {}
    for slug in ("numeriland", "novatech"):
        page = new_page()
        _open_shop(page, live_server, slug)
        brand = _partner(slug)
        header = page.get_by_role("banner")
        seen[slug] = header.evaluate("el => getComputedStyle(el).backgroundColor")
        assert seen[slug] == _rgb(brand["primary_color"]), (slug, seen[slug])
        expect(page.get_by_role("link", name=brand["name"]).first).to_be_visible()
        assert brand["name"] in page.title()
        # The order button carries the brand too.
        _add_to_cart(page, "Office Home 2024")
        checkout = page.get_by_role("link", name="Checkout")
        assert checkout.evaluate("el => getComputedStyle(el).backgroundColor") == _rgb(
            brand["primary_color"]
        )
    assert seen["numeriland"] != seen["novatech"]


def test_declined_card_shows_the_error_beside_the_field(
    browser_page: Any, live_server: Any
) -> None:
    page = browser_page
    _open_shop(page, live_server, "novatech")
    _add_to_cart(page, "Office Home 2024")
    _fill_checkout(page, "declined@example.com", "Dominique Refus")
    page.get_by_role("button", name="Order with obligation to pay").click()
    _pay(page, DECLINED_CARD)

    card = page.get_by_label("Card number")
    expect(card).to_have_attribute("aria-invalid", "true")
    expect(card).to_have_attribute("aria-describedby", "card_number-error")
    error = page.locator("#card_number-error")
    expect(error).to_contain_text("The card was declined")
    # Beside the field: in the same field group, right after the input.
    assert error.evaluate("el => el.previousElementSibling.id") == "card_number"
    expect(page.get_by_role("heading", level=1, name="Test payment")).to_be_visible()


def test_checkout_without_consent_shows_the_error_beside_the_checkbox(
    browser_page: Any, live_server: Any
) -> None:
    page = browser_page
    _open_shop(page, live_server, "numeriland")
    _add_to_cart(page, "Windows 11 Home")
    _fill_checkout(page, "no.consent@example.com", "Alex Oubli", consent=False)
    page.get_by_role("button", name="Order with obligation to pay").click()

    expect(page.get_by_role("alert")).to_contain_text("Please correct the fields marked below.")
    consent = page.locator("#consent")
    expect(consent).not_to_be_checked()
    expect(consent).to_have_attribute("aria-invalid", "true")
    expect(consent).to_have_attribute("aria-describedby", "consent-error")
    error = page.locator("#consent-error")
    expect(error).to_contain_text("Tick the box")
    assert error.evaluate(
        "el => el.parentElement === document.getElementById('consent').parentElement"
    )
    # What the buyer typed is kept; no order was placed.
    expect(page.get_by_label("E-mail address")).to_have_value("no.consent@example.com")
    expect(page).to_have_url(re.compile(r"/checkout$"))


def test_french_is_the_default_language(new_page: Any, live_server: Any) -> None:
    page = new_page(locale="fr-FR")
    page.goto(live_server.shop("numeriland", "products/OFFICE-HOME-2024-WIN"))
    assert page.locator("html").get_attribute("lang") == "fr"
    # Prices the French way whatever the translations say.
    expect(page.locator(".price--big")).to_contain_text(re.compile(r"139,90\s€"))
    expect(page.get_by_role("button", name="Add to cart")).to_have_count(0)
