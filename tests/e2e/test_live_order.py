"""After paying, the confirmation and order pages follow the delivery live: the licence appears
without a reload, and the status line says so."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from e2e.test_purchase import GOOD_CARD, _add_to_cart, _fill_checkout, _open_shop, _pay
from playwright.sync_api import expect

from fulfilment.simulators import SimulatorHandle, start_simulator

pytestmark = pytest.mark.e2e

DELIVERY_DELAY_MS = 4000  # long enough to see the page waiting, short enough for a test


@pytest.fixture
def slow_nexway(live_server: Any, test_settings: dict[str, Any]) -> Iterator[SimulatorHandle]:
    """The demo's nexway shops bought from a simulator that delivers by callback, seconds later."""
    with start_simulator("nexway", config={"delivery_delay_ms": DELIVERY_DELAY_MS},
                         api_key=test_settings["NEXWAY_API_KEY"],
                         callback_secret=test_settings["NEXWAY_CALLBACK_SECRET"]) as sim:
        config = live_server.app.config
        before = {k: config.get(k) for k in ("NEXWAY_URL", "CALLBACK_BASE_URL",
                                             "FULFILMENT_POLL_INTERVAL")}
        # No poll: only the wholesaler's callback can deliver, while the page is open.
        config.update(NEXWAY_URL=sim.url, CALLBACK_BASE_URL=live_server.url,
                      FULFILMENT_POLL_INTERVAL=3600.0)
        try:
            yield sim
        finally:
            config.update(before)


def test_the_order_page_shows_the_licence_when_it_arrives_without_a_reload(
        new_page: Any, live_server: Any, slow_nexway: SimulatorHandle) -> None:
    page = new_page()
    _open_shop(page, live_server, "numeriland")
    _add_to_cart(page, "Office Home 2024")
    _fill_checkout(page, "live.follower@example.com", "Lou Suivi")
    page.get_by_role("button", name="Order with obligation to pay").click()
    _pay(page, GOOD_CARD)
    status = page.locator("[data-live-note]")
    expect(status).to_contain_text("your licences are being prepared")
    expect(status).to_contain_text("updates by itself")
    page.get_by_role("link", name="Follow this order").click()
    expect(page.get_by_text("Your licence is being prepared.")).to_be_visible()
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads
    expect(page.locator(".product-key").first).to_be_visible(
        timeout=DELIVERY_DELAY_MS + 20_000)
    expect(page.locator("[data-live-note]")).to_have_text("Your licences are ready.")
    assert page.evaluate("window.__sameDocument") is True
    assert page.locator("[data-live-order]").get_attribute("data-following") is None
    expect(page.get_by_role("link", name="Report this key as already activated")).to_be_visible()
