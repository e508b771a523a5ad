"""axe-core on the buying pages of every demo partner's shop: zero WCAG 2.1 A/AA violations.

Every demo partner is checked, not only two, because each brings its own colours and the contrast of
the brand colours is part of what is checked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

import demo

pytestmark = pytest.mark.e2e

AXE = (
    Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
)  # see conftest.py
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
RUN_AXE = """async (tags) => {
  const results = await axe.run(document,
    {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
  return results.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map(n => ({target: n.target.join(' '), summary: n.failureSummary})),
  }));
}"""


def axe_violations(page: Any) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    return page.evaluate(RUN_AXE, WCAG_TAGS)  # type: ignore[no-any-return]


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"- {v['id']} ({v['impact']}): {v['help']}")
        for node in v["nodes"][:6]:
            summary = " ".join((node["summary"] or "").split())
            lines.append(f"    {node['target']}: {summary}")
        if len(v["nodes"]) > 6:
            lines.append(f"    … and {len(v['nodes']) - 6} more")
    return "\n".join(lines)


def check(page: Any, what: str, found: dict[str, list[dict[str, Any]]]) -> None:
    violations = axe_violations(page)
    if violations:
        found[f"{what} ({page.url})"] = violations


# Two shops get every page of the path; the others, whose colours differ, the pages where the brand
# shows most (header, footer, product cards, big price, buy box, form errors, order summary).
EVERY_PAGE = {"numeriland", "novatech"}


@pytest.mark.parametrize("slug", [p["slug"] for p in demo.PARTNERS])
def test_buying_pages_have_no_wcag_violations(new_page: Any, live_server: Any, slug: str) -> None:
    """Catalogue, product, cart with an item, checkout, checkout with errors (and, on two shops,
    the home page, the card page, the declined card and the confirmation)."""
    page = new_page(locale="fr-FR", bypass_csp=True)  # the default language: what most buyers see
    every = slug in EVERY_PAGE
    found: dict[str, list[dict[str, Any]]] = {}

    if every:
        page.goto(live_server.shop(slug))
        check(page, "home", found)

    page.goto(live_server.shop(slug, "products"))
    check(page, "catalogue", found)

    page.locator(".product-card__title a").first.click()
    expect(page.locator("form.buy-box")).to_be_visible()
    check(page, "product", found)

    page.locator("form.buy-box input[type=checkbox]").first.check()
    page.locator("form.buy-box button[type=submit]").click()
    expect(page.locator("table.cart-table")).to_be_visible()
    check(page, "cart with an item", found)

    page.locator(f'a.button[href$="/p/{slug}/checkout"]').click()
    expect(page.locator("#consent")).to_be_visible()
    check(page, "checkout", found)

    page.locator("#email").fill("not an address")
    page.locator(".checkout__form button.button--primary").click()
    expect(page.locator("#consent-error")).to_be_visible()
    expect(page.locator("#email-error")).to_be_visible()
    check(page, "checkout with errors", found)

    if every:
        page.locator("#email").fill("a11y@example.com")
        page.locator("#name").fill("Ada Lovelace")
        page.locator("#consent").check()
        page.locator("#terms").check()
        page.locator(".checkout__form button.button--primary").click()
        expect(page.locator("#card_number")).to_be_visible()
        check(page, "test card page", found)

        page.locator("#card_number").fill("4000 0000 0000 0002")
        page.locator(".pay-card button[type=submit]").click()
        expect(page.locator("#card_number-error")).to_be_visible()
        check(page, "test card page, card declined", found)

        page.locator("#card_number").fill("4242 4242 4242 4242")
        page.locator(".pay-card button[type=submit]").click()
        expect(page.locator(".confirmation")).to_be_visible()
        check(page, "order confirmation", found)

    assert not found, f"WCAG 2.1 AA violations on {slug}'s shop:\n" + "\n".join(
        f"{where}:\n{describe(violations)}" for where, violations in found.items()
    )


def test_english_checkout_with_errors_has_no_wcag_violations(
    new_page: Any, live_server: Any
) -> None:
    page = new_page(locale="en-GB", bypass_csp=True)
    page.goto(live_server.shop("novatech", "products/OFFICE-HOME-2024-WIN?lang=en"))
    page.locator("form.buy-box button[type=submit]").click()
    page.goto(live_server.shop("novatech", "checkout"))
    page.locator(".checkout__form button.button--primary").click()
    expect(page.locator("#consent-error")).to_be_visible()
    assert page.locator("html").get_attribute("lang") == "en"
    violations = axe_violations(page)
    assert not violations, describe(violations)


def _contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two computed CSS colours like 'rgb(11, 83, 148)'."""

    def luminance(colour: str) -> float:
        channels = [int(float(c)) / 255 for c in colour[colour.index("(") + 1 : -1].split(",")[:3]]
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


FOCUSED = """() => {
  const el = document.activeElement;
  const s = getComputedStyle(el);
  // the ring is drawn outside the element, on its container's background
  let around = el.parentElement;
  while (around && getComputedStyle(around).backgroundColor === 'rgba(0, 0, 0, 0)') {
    around = around.parentElement;
  }
  return {tag: el.tagName, style: s.outlineStyle, width: parseFloat(s.outlineWidth),
          colour: s.outlineColor,
          background: around ? getComputedStyle(around).backgroundColor : 'rgb(255, 255, 255)',
          what: el.outerHTML.replace(/\\s+/g, ' ').slice(0, 70)};
}"""


@pytest.mark.parametrize("slug", [p["slug"] for p in demo.PARTNERS])
def test_keyboard_focus_is_visible_on_the_brand_colours(
    new_page: Any, live_server: Any, slug: str
) -> None:
    """Tab through the product page: the skip link comes first and shows; every focus ring
    contrasts at least 3:1 with the background it is drawn on, brand colours included
    (WCAG 2.4.7 and 1.4.11, which axe does not check)."""
    page = new_page(locale="fr-FR")
    page.goto(live_server.shop(slug, "products/OFFICE-HOME-2024-WIN"))
    page.keyboard.press("Tab")
    skip = page.locator(".skip-link")
    expect(skip).to_be_focused()
    box = skip.bounding_box()
    assert box is not None and box["x"] >= 0 and box["y"] >= 0, (
        f"the focused skip link is off screen: {box}"
    )

    weak, seen = [], 0
    for _ in range(40):
        focused = page.evaluate(FOCUSED)
        if focused["tag"] == "BODY":
            break
        seen += 1
        ratio = _contrast(focused["colour"], focused["background"])
        if focused["style"] == "none" or focused["width"] < 2 or ratio < 3:
            weak.append(
                f"{focused['what']}: {focused['style']} {focused['width']}px ring "
                f"{focused['colour']} "
                f"on {focused['background']} = {ratio:.2f}:1"
            )
        page.keyboard.press("Tab")
    assert seen >= 10, f"only {seen} elements took the keyboard focus"
    assert not weak, "focus rings missing or too faint:\n" + "\n".join(weak)


def test_pages_reflow_on_a_small_phone(new_page: Any, live_server: Any) -> None:
    """320 CSS pixels wide, no sideways scrolling (WCAG 1.4.10 reflow)."""
    page = new_page(locale="fr-FR", width=320)
    page.goto(live_server.shop("telcomobile", "products/OFFICE-HOME-2024-WIN"))
    page.locator("form.buy-box button[type=submit]").click()
    too_wide = {}
    for path in ("products", "products/OFFICE-HOME-2024-WIN", "cart", "checkout"):
        page.goto(live_server.shop("telcomobile", path))
        overflow = page.evaluate("""() => {
            const width = document.documentElement.clientWidth;
            const wide = [...document.querySelectorAll('body *')]
                .filter(el => el.getBoundingClientRect().right > width + 1)
                .map(el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
                     + (typeof el.className === 'string' && el.className
                        ? '.' + el.className.trim().split(/\\s+/).join('.') : ''));
            return {scroll: document.documentElement.scrollWidth, width, wide: wide.slice(0, 8)};
        }""")
        if overflow["scroll"] > overflow["width"]:
            too_wide[path] = overflow
    assert not too_wide, f"pages scroll sideways at 320px: {too_wide}"


@pytest.mark.parametrize("slug", sorted(EVERY_PAGE | {"reseaupro"}))
def test_account_order_and_invoice_pages_have_no_wcag_violations(
    new_page: Any, live_server: Any, slug: str
) -> None:
    """The demo buyer's account page (orders and subscriptions), then each of their orders on
    the shop: the order page with its delivery and its invoice list (on Réseau Pro, a refunded
    order and its credit note too)."""
    page = new_page(locale="fr-FR", bypass_csp=True)
    page.goto(live_server.shop(slug, "account/signin"))
    page.locator("#email").fill(demo.LOGINS["buyer"]["email"])
    page.locator("#password").fill(demo.LOGINS["buyer"]["password"])
    page.locator("form:has(#password) button[type=submit]").click()
    orders = page.locator("table a[href*='/orders/']")
    expect(orders.first).to_be_visible()
    found: dict[str, list[dict[str, Any]]] = {}
    check(page, "account", found)
    links = [orders.nth(n).get_attribute("href") for n in range(orders.count())]
    invoices = 0
    for link in links:
        page.goto(f"{live_server.url}{link}")
        expect(page.locator("h1")).to_be_visible()
        invoices += page.locator(".order-invoices a").count()
        check(page, "order", found)
    assert invoices, f"no invoice listed on the demo buyer's orders on {slug}"
    assert not found, f"WCAG 2.1 AA violations on {slug}'s shop:\n" + "\n".join(
        f"{where}:\n{describe(violations)}" for where, violations in found.items()
    )
