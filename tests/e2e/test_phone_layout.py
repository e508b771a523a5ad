"""On a 375 px phone the order's table stays readable: no sideways scrolling, and every value
carries its column's name once the header row is hidden."""

from __future__ import annotations

from typing import Any

import pytest
from e2e.test_purchase import GOOD_CARD, _add_to_cart, _fill_checkout, _open_shop, _pay
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

PHONE = 375

LABELS = """(table) => [...table.querySelectorAll("tbody td")].map(td =>
    getComputedStyle(td, "::before").content.replace(/^"|"$/g, "").trim())"""


def test_the_order_table_keeps_a_label_on_every_value_on_a_phone(
        new_page: Any, live_server: Any) -> None:
    page = new_page(width=PHONE)
    _open_shop(page, live_server, "novatech")
    _add_to_cart(page, "Office Home 2024", backup=True)
    _fill_checkout(page, "phone.buyer@example.com", "Pat Mobile")
    page.get_by_role("button", name="Order with obligation to pay").click()
    _pay(page, GOOD_CARD)
    page.get_by_role("link", name="Follow this order").click()
    table = page.get_by_role("table", name="Order lines")
    expect(table).to_be_visible()
    assert table.locator("thead").evaluate("t => getComputedStyle(t).display") == "none"
    labels = table.evaluate(LABELS)
    # Two lines (the product and its backup), each with its four labelled values.
    assert labels == ["Quantity", "Unit price", "VAT", "Total"] * 2, labels
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE
    total = table.locator("tfoot tr").last
    expect(total).to_contain_text("Total incl. VAT")
    box = total.bounding_box()
    assert box is not None and box["x"] + box["width"] <= PHONE


def test_the_cart_table_is_labelled_on_a_phone(new_page: Any, live_server: Any) -> None:
    page = new_page(width=PHONE)
    _open_shop(page, live_server, "novatech")
    _add_to_cart(page, "Office Home 2024")
    table = page.get_by_role("table", name="Items in your cart")
    labels = table.evaluate(LABELS)
    assert labels[:3] == ["Unit price", "Quantity and options", "Total"], labels
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE
