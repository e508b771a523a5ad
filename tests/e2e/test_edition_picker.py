"""A buyer picks an edition and a computer on the product page, and compares the editions."""

from __future__ import annotations

from typing import Any

import pytest
from e2e.test_purchase import _open_shop
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def test_picking_an_edition_then_a_computer(new_page: Any, live_server: Any) -> None:
    page = new_page()
    _open_shop(page, live_server, "numeriland")
    page.goto(live_server.shop("numeriland", "products/OFFICE-HOME-2024-WIN?lang=en"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Office Home 2024")
    computer = page.get_by_role("navigation", name="Computer")
    expect(computer.get_by_role("link", name="Windows PC")).to_have_attribute("aria-current",
                                                                             "page")
    computer.get_by_role("link", name="Mac").click()
    expect(page).to_have_url(live_server.shop("numeriland", "products/OFFICE-HOME-2024-MAC"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Office Home 2024 for Mac")
    edition = page.get_by_role("navigation", name="Edition")
    edition.get_by_role("link", name="Office Home & Business 2024 for Mac").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Office Home & Business 2024 for Mac")
    compare = page.get_by_role("table", name="Compare the editions")
    expect(compare).to_contain_text("Office Home 2024 for Mac")
    expect(compare).to_contain_text("This edition")
    compare.get_by_role("link", name="Choose Office Home 2024 for Mac").click()
    expect(page).to_have_url(live_server.shop("numeriland", "products/OFFICE-HOME-2024-MAC"))
    # And the choice is what goes in the cart.
    page.get_by_role("button", name="Add to cart").click()
    expect(page.get_by_role("table", name="Items in your cart")).to_contain_text(
        "Office Home 2024 for Mac")
