"""Two partners with overlapping catalogues at different prices, and a buyer's moves on them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest

from commerce.orders import ADDON_BACKUP, ADDON_INSTALL
from legal.terms import in_force
from support.outbox import PaidOrders, hold_events

# What a browser sends with a form posted from one of the shop's own pages (the test client's
# host is localhost).
SAME_ORIGIN = {"Origin": "http://localhost"}


@dataclass
class Shops:
    a: Any
    b: Any
    office: Any
    windows: Any
    visio: Any
    backup: Any
    install: Any


@pytest.fixture
def shops(make_partner, make_product) -> Shops:
    office = make_product(
        code="OFFICE-HOME-2024-WIN", name="Office Famille 2024", list_price_cents=14900
    )
    windows = make_product(
        code="WIN11-PRO", family="windows", name="Windows 11 Pro", list_price_cents=25900
    )
    visio = make_product(
        code="VISIO-STD-2024", family="visio", name="Visio Standard 2024", list_price_cents=57900
    )
    backup = make_product(
        code=ADDON_BACKUP,
        kind="addon",
        family="addon",
        name="Sauvegarde 2 ans",
        list_price_cents=990,
        skus={},
    )
    install = make_product(
        code=ADDON_INSTALL,
        kind="addon",
        family="addon",
        name="Installation",
        list_price_cents=2900,
        skus={},
    )
    a = make_partner(
        slug="shop-a",
        name="Shop A",
        domains=["shop-a.example"],
        products=[office, windows, backup, install],
        prices={office.code: 13900},
        primary_color="#0b5394",
    )
    b = make_partner(
        slug="shop-b",
        name="Shop B",
        kind="oem",
        domains=["shop-b.example"],
        wholesaler_code="arvato",
        products=[office, visio, backup],
        prices={office.code: 12500, backup.code: 500},
        primary_color="#5b21b6",
    )
    return Shops(a, b, office, windows, visio, backup, install)


@pytest.fixture
def add_to_cart(client):
    """Add a product to a partner's cart through the product page's form, as a browser does:
    the page may come from the page cache, without a CSRF token, and the browser says the form
    comes from the shop's own origin."""

    def add(slug: str, code: str, quantity: int = 1, **extra: Any):
        assert client.get(f"/p/{slug}/products/{code}").status_code == 200
        return client.post(
            f"/p/{slug}/cart/add/{code}", data={"quantity": quantity, **extra},
            headers=SAME_ORIGIN,
        )

    return add


@pytest.fixture
def checkout(client):
    """Submit the checkout form of a partner's shop, as a person would: with the total the page
    showed, and confirming once when the page shows a new total (another country's VAT, a
    reverse charge) unless `confirm_changes=False`."""

    def submit(slug: str, confirm_changes: bool = True, **overrides: Any):
        page = client.get(f"/p/{slug}/checkout")
        assert page.status_code == 200, page.status_code
        html = page.get_data(as_text=True)
        data = {
            "csrf_token": re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1),
            "quoted_total": quoted_total(html),
            "email": "Camille@Example.com",
            "name": "Camille Martin",
            "billing_country": "FR",
            "consent": "y",
            "terms": "y",
            "terms_version": in_force().version,
            **overrides,
        }
        data = {k: v for k, v in data.items() if v is not None}
        response = client.post(f"/p/{slug}/checkout", data=data)
        html = response.get_data(as_text=True)
        if confirm_changes and response.status_code == 200 and 'id="total-changed"' in html:
            data["quoted_total"] = quoted_total(html)
            response = client.post(f"/p/{slug}/checkout", data=data)
        return response

    return submit


def quoted_total(html: str) -> str:
    """The total a checkout page showed, as its form carries it."""
    found = re.search(r'name="quoted_total"[^>]*value="(\d+)"', html) or re.search(
        r'value="(\d+)"[^>]*name="quoted_total"', html
    )
    assert found, "no quoted_total on the checkout page"
    return found.group(1)


@pytest.fixture
def pay_with_test_card(client, form_token):
    """Pay on the test gateway's card page that checkout redirected to."""

    def pay(card_page: str, card: str = "4242 4242 4242 4242"):
        token = form_token(card_page)
        return client.post(card_page, data={"csrf_token": token, "card_number": card})

    return pay


@pytest.fixture(autouse=True)
def handed_over(app) -> PaidOrders:
    """The paid orders whose OrderPaid event waits in the outbox; the shop's tests stop there."""
    return hold_events(app)
