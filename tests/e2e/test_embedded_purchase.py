"""The shop embedded in another site, in Chromium: a partner's page on one host name embeds the
shop served on another, so the frame is cross-site, with third-party cookies blocked as browsers
now do (only the frame's partitioned cookie works). A real purchase is made from the buy button
and from the inline frame, and the partner's page hears `order-paid`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select
from support.processes import serving

from commerce.models import Order, Partner, PaymentStatus
from extensions import db

SLUG = "numeriland"
PRODUCT = "OFFICE-HOME-2024-WIN"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
BLOCK_THIRD_PARTY = ["--test-third-party-cookie-phaseout",
                     "--host-resolver-rules=MAP *.localhost 127.0.0.1, MAP localhost 127.0.0.1"]


def _parent_page(shop: str, body: str) -> bytes:
    return f"""<!doctype html>
<html lang="fr"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Le site du partenaire</title></head>
<body><h1>Le site du partenaire</h1>
<script>
  window.comptoirEvents = [];
  ["size", "cart-changed", "checkout-started", "order-paid"].forEach(function (type) {{
    document.addEventListener("comptoir:" + type, function (e) {{
      window.comptoirEvents.push([type, e.detail]);
    }});
  }});
</script>
{body.replace("SHOP", shop)}
</body></html>""".encode()


@pytest.fixture(scope="module")
def partner_site(live_server: Any) -> Iterator[str]:
    """The partner's own site on another host name: a buy button page and an inline page."""
    shop = live_server.url.replace("127.0.0.1", "localhost")
    pages = {
        "/button": _parent_page(shop, f'<p>Office pour la maison.</p><script src="SHOP/static/js/'
                                      f'embed.js" data-partner="{SLUG}" data-product="{PRODUCT}" '
                                      'data-label="Acheter Office"></script>'),
        "/inline": _parent_page(shop, f'<div data-comptoir-shop data-partner="{SLUG}" '
                                      'data-title="Boutique"></div>'
                                      '<script src="SHOP/static/js/embed.js"></script>'),
    }

    def site(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        page = pages.get(environ["PATH_INFO"])
        if page is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [page]

    with serving(site) as server:
        origin = f"http://partner.localhost:{server.server_port}"
        with live_server.app.app_context():
            partner = db.session.scalar(select(Partner).where(Partner.slug == SLUG))
            partner.embed_origins = origin
            db.session.commit()
        yield origin


@pytest.fixture
def embed_page(chromium: Any, live_server: Any) -> Iterator[Any]:
    """A fresh browser context, in French, as the partner's visitors would be."""
    context = chromium.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture(scope="module")
def chromium(live_server: Any) -> Iterator[Any]:
    """This module's Chromium blocks third-party cookies and maps the host names to loopback."""
    from playwright.sync_api import sync_playwright
    from support.environment import chromium_path

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium_path()), headless=True,
                                     args=[*CHROMIUM_ARGS, *BLOCK_THIRD_PARTY])
        try:
            yield browser
        finally:
            browser.close()


def _buy_in_frame(frame: Any) -> None:
    """In the frame: add the product, check out, and reach the page that opens payment."""
    frame.get_by_role("button", name="Ajouter au panier").click()
    expect(frame.get_by_role("heading", level=1, name="Votre panier")).to_be_visible()
    frame.get_by_role("link", name="Passer commande").click()
    frame.get_by_label("Adresse e-mail").fill("embed@example.com")
    frame.get_by_label("Nom et prénom").fill("Camille Embed")
    frame.get_by_label("Pays de facturation").select_option("FR")
    frame.locator("#consent").check()
    frame.locator("#terms").check()
    frame.get_by_role("button", name="Commander avec obligation de paiement").click()
    expect(frame.get_by_role("link", name="Payer en toute sécurité dans une nouvelle fenêtre")
           ).to_be_visible()


def _pay_in_new_window(context: Any, frame: Any) -> Any:
    with context.expect_page() as opened:
        frame.get_by_role("link", name="Payer en toute sécurité dans une nouvelle fenêtre").click()
    window = opened.value
    window.get_by_label(re.compile("Numéro de carte")).fill("4242 4242 4242 4242")
    window.get_by_role("button", name=re.compile("^Payer")).click()
    return window


def _events(page: Any, kind: str) -> list[Any]:
    """What the partner's page heard of a kind, once it has heard at least one."""
    page.wait_for_function(f"window.comptoirEvents.some(e => e[0] === '{kind}')")
    return [detail for name, detail in page.evaluate("window.comptoirEvents") if name == kind]


def _paid(live_server: Any, number: str) -> bool:
    with live_server.app.app_context():
        order = db.session.scalar(select(Order).where(Order.number == number))
        return order is not None and order.payment_status == PaymentStatus.PAID \
            and order.source == "embed"


def test_a_purchase_from_the_buy_button_reaches_the_partners_page(
        embed_page: Any, live_server: Any, partner_site: str) -> None:
    page = embed_page.new_page()
    page.goto(f"{partner_site}/button")
    button = page.get_by_role("button", name="Acheter Office")
    button.focus()
    page.keyboard.press("Enter")  # keyboard first: the button is a real button
    dialog = page.get_by_role("dialog", name="Acheter Office")
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(button).to_be_focused()  # the focus comes back to the button

    button.click()
    frame = page.frame_locator("iframe[title='Acheter Office']")
    expect(frame.get_by_role("heading", level=1)).to_contain_text("Office")
    _buy_in_frame(frame)
    assert _events(page, "checkout-started")
    window = _pay_in_new_window(embed_page, frame)

    # the payment's window comes back to the partner's page, which shows the paid order
    expect(window).to_have_url(re.compile(re.escape(partner_site) + r"/button#comptoir-order="))
    expect(window.frame_locator("iframe").get_by_role("heading", level=1)).to_have_text(
        "Merci ! Votre commande est confirmée.")
    # and the page the buyer started on hears it from its own frame
    expect(frame.get_by_role("heading", level=1)).to_have_text(
        "Merci ! Votre commande est confirmée.")
    (paid,) = _events(page, "order-paid")
    assert _paid(live_server, paid["order"])


def test_a_purchase_in_the_inline_frame_resizes_it_and_reports_the_cart(
        embed_page: Any, live_server: Any, partner_site: str) -> None:
    page = embed_page.new_page()
    page.goto(f"{partner_site}/inline")
    frame = page.frame_locator("iframe[title='Boutique']")
    expect(frame.get_by_role("banner")).to_be_visible()
    assert _events(page, "size")
    height = page.evaluate("document.querySelector('iframe').getBoundingClientRect().height")
    assert height >= 480
    frame.get_by_role("link", name="Catalogue").first.click()
    frame.get_by_role("link", name="Office Famille 2024", exact=True).first.click()
    _buy_in_frame(frame)
    assert _events(page, "cart-changed")
    _pay_in_new_window(embed_page, frame)
    (paid,) = _events(page, "order-paid")
    assert _paid(live_server, paid["order"])
