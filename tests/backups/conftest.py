"""Backups fixtures: two shops, orders with the backup add-on stored in the disk vault, sign-in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from backups_support import bundle_for
from test_translations import compiled_translations  # noqa: F401 - the French e-mail test

from backups.vault import Backup, BackupRequest, store_backup
from commerce.models import Order, OrderLine, Partner
from commerce.orders import ADDON_BACKUP, BuyerDetails, LineRequest, place_order


@dataclass
class Shops:
    a: Partner
    b: Partner
    office: Any


@dataclass
class Backed:
    order: Order
    line: OrderLine
    backup: Backup
    product_key: str


@pytest.fixture
def shops(make_partner, make_product) -> Shops:
    office = make_product(code="OFFICE-HOME-2024-WIN", name="Office Famille 2024")
    addon = make_product(code=ADDON_BACKUP, kind="addon", family="addon", name="Sauvegarde 2 ans",
                         list_price_cents=990, skus={})
    a = make_partner(slug="shop-a", name="Shop A", domains=["shop-a.example"],
                     products=[office, addon], support_email="help@shop-a.example")
    b = make_partner(slug="shop-b", name="Shop B", domains=["shop-b.example"],
                     products=[office, addon])
    return Shops(a, b, office)


@pytest.fixture
def english(client, shops) -> None:
    """Make the test client read the shops in English (the choice is kept in the session)."""
    assert client.get("/p/shop-a/?lang=en").status_code == 200


@pytest.fixture
def backed_order(db) -> Callable[..., Backed]:
    """Place an order with the backup add-on and store its backup in the vault."""
    counter = iter(range(1, 10_000))

    def make(partner: Partner, email: str = "camille@example.com", *, user: Any = None,
             locale: str = "en", delivered_at: datetime | None = None) -> Backed:
        n = next(counter)
        order = place_order(partner, [LineRequest("OFFICE-HOME-2024-WIN", 1, (ADDON_BACKUP,))],
                               BuyerDetails(email, "Camille Martin", locale=locale), user=user)
        db.session.commit()
        line = order.product_lines[0]
        key = f"KEY{n:02d}-ABCDE-FGHIJ-KLMNO-PQRST"
        backup = store_backup(BackupRequest(
            partner=partner.slug, order_line_ref=str(line.id), buyer_ref=order.email,
            bundle=bundle_for(order, line, key), delivered_at=delivered_at))
        db.session.commit()  # the vault leaves the commit to its caller
        return Backed(order, line, backup, key)

    return make


@pytest.fixture
def sign_in(client, form_token) -> Callable[..., None]:
    """Sign a buyer in on a partner's shop."""

    def run(slug: str, email: str, password: str = "correct horse battery") -> None:
        token = form_token(f"/p/{slug}/account/signin")
        response = client.post(f"/p/{slug}/account/signin",
                               data={"csrf_token": token, "email": email, "password": password})
        assert response.status_code == 302, response.status_code

    return run


@pytest.fixture
def operator(client, sign_in_operator):
    """Sign an operator into the back office and return the user."""
    return sign_in_operator(client, email="support@comptoir.example")


@pytest.fixture
def pay_test_card(client, form_token) -> Callable[[str], Any]:
    """Pay on the test gateway's card page with the card that works."""

    def pay(card_page: str) -> Any:
        token = form_token(card_page)
        return client.post(card_page, data={"csrf_token": token, "card_number": "4242424242424242"})

    return pay
