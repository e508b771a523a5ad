"""Pages from the page cache in a browser: the cart count comes from /cart/summary, adding to the
cart works from a cached page, with JavaScript and without."""

from __future__ import annotations

import re
import urllib.request
from typing import Any

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

SLUG = "numeriland"


def _a_product(page: Any, live_server: Any) -> tuple[str, str]:
    """The first product of the catalogue: its page's address and its name."""
    page.goto(live_server.shop(SLUG, "products"))
    link = page.locator(f'a[href^="/p/{SLUG}/products/"]').first
    href = link.get_attribute("href")
    page.goto(live_server.url + href)
    name = page.get_by_role("heading", level=1).inner_text().strip()
    return live_server.url + href, name


def _hits(live_server: Any) -> int:
    return int(live_server.app.extensions["pagecache"].hits)


def _as_a_shared_cache_would(page: Any, address: str) -> None:
    """Serve this visitor the page every anonymous visitor gets (as a CDN in front would),
    fetched without their cookies."""

    def anonymous(route: Any) -> None:
        ask = urllib.request.Request(address, headers={"Accept-Language": "fr-FR"})
        with urllib.request.urlopen(ask, timeout=30) as answer:  # noqa: S310 - loopback
            route.fulfill(status=answer.status, headers=dict(answer.headers.items()),
                          body=answer.read())

    page.route(address, anonymous)


def test_a_cached_product_page_shows_the_cart_count_and_adds_to_the_cart(
        new_page: Any, live_server: Any) -> None:
    page = new_page(locale="fr-FR")
    address, name = _a_product(page, live_server)
    page.goto(address)  # stored now: the next anonymous visitor gets it from the cache
    hits = _hits(live_server)
    page.goto(address)
    assert _hits(live_server) == hits + 1
    expect(page.get_by_role("heading", level=1, name=name)).to_be_visible()
    expect(page.locator(".cart-count")).to_have_text("0")
    assert page.locator('input[name="csrf_token"]').count() == 0

    page.get_by_role("button", name="Ajouter au panier").click()
    expect(page).to_have_url(re.compile(r"/cart$"))
    expect(page.locator(".cart-count")).to_have_text("1")

    # With a cart the visitor's pages are their own; a shared cache in front may still hand
    # them the anonymous page: the count then comes from /cart/summary.
    _as_a_shared_cache_would(page, address)
    hits = _hits(live_server)
    page.goto(address)
    assert _hits(live_server) == hits + 1
    expect(page.locator(".cart-count")).to_have_text("1")
    page.get_by_role("button", name="Ajouter au panier").click()
    expect(page).to_have_url(re.compile(r"/cart$"))
    expect(page.locator(".cart-count")).to_have_text("2")


def test_a_cached_product_page_adds_to_the_cart_without_javascript(
        new_page: Any, live_server: Any) -> None:
    page = new_page(locale="fr-FR", javascript=False)
    address, name = _a_product(page, live_server)
    page.goto(address)
    hits = _hits(live_server)
    page.goto(address)
    assert _hits(live_server) == hits + 1
    page.get_by_role("button", name="Ajouter au panier").click()
    expect(page).to_have_url(re.compile(r"/cart$"))
    expect(page.locator(".cart-count")).to_have_text("1")
    expect(page.get_by_text(name).first).to_be_visible()
