"""The shop in a partner's frame: frame-ancestors, the frame's own cookie, the parent's origin,
and paying in a window of its own that comes back to the partner's page."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select
from support.shops import checkout, quoted_total, shops  # noqa: F401 - fixtures

from commerce.access import access_token
from commerce.models import Order, PaymentStatus
from extensions import db as _db
from legal.terms import in_force

PARENT = "https://www.partner-a.example"
PAGE = f"{PARENT}/boutique/office"


@pytest.fixture
def framed(shops):  # noqa: F811 - the fixture above
    shops.a.embed_origins = f"{PARENT}\nhttps://other.example"
    _db.session.commit()
    return shops


@pytest.fixture
def frame(app):  # type: ignore[no-untyped-def]
    """A client that talks HTTPS, as a frame in production does (Secure cookies are sent)."""
    return app.test_client()


def _get(client, path: str, **kwargs):  # type: ignore[no-untyped-def]
    return client.get(path, base_url="https://localhost", **kwargs)


def _post(client, path: str, data: dict[str, str]):  # type: ignore[no-untyped-def]
    return client.post(path, base_url="https://localhost", data=data,
                       headers={"Referer": f"https://localhost{path}"})


def _token(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def test_embed_pages_may_be_framed_by_the_partners_origins_only(client, framed):
    policy = _get(client, "/embed/shop-a/").headers
    assert f"frame-ancestors {PARENT} https://other.example" in policy["Content-Security-Policy"]
    assert "X-Frame-Options" not in policy
    for path in ("/p/shop-a/", "/admin/login", "/p/shop-a/reseller/"):
        headers = client.get(path).headers
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], path
        assert headers["X-Frame-Options"] == "DENY", path
    # a partner without embed origins cannot be framed, even in embed mode
    embedded_b = client.get("/embed/shop-b/").headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in embedded_b


def test_the_frame_has_its_own_partitioned_cookie(frame, framed):
    first = _get(frame, "/p/shop-a/")
    assert "comptoir_session-embed" not in " ".join(first.headers.getlist("Set-Cookie"))
    page = _get(frame, f"/embed/shop-a/products/OFFICE-HOME-2024-WIN?origin={PARENT}")
    cookies = page.headers.getlist("Set-Cookie")
    (embedded,) = [c for c in cookies if c.startswith("comptoir_session-embed=")]
    assert "SameSite=None" in embedded and "Secure" in embedded and "Partitioned" in embedded
    assert not [c for c in cookies if c.startswith("comptoir_session=")]
    # CSRF works inside the frame: the token is in the frame's session
    added = _post(frame, "/embed/shop-a/cart/add/OFFICE-HOME-2024-WIN",
                  {"csrf_token": _token(page.get_data(as_text=True)), "quantity": "1"})
    assert added.status_code == 302
    cart = _get(frame, "/embed/shop-a/cart").get_data(as_text=True)
    assert "Office Famille 2024" in cart
    # the first-party shop, in the same browser, has its own cart
    assert "Office Famille 2024" not in _get(frame, "/p/shop-a/cart").get_data(as_text=True)


def test_only_an_allowed_parent_origin_is_talked_to(client, framed):
    refused = _get(client, "/embed/shop-a/?origin=https://evil.example").get_data(as_text=True)
    assert 'data-embed-parent=""' in refused
    allowed = _get(client, f"/embed/shop-a/?origin={PARENT}").get_data(as_text=True)
    assert f'data-embed-parent="{PARENT}"' in allowed
    assert "js/embed-frame.js" in allowed
    later = _get(client, "/embed/shop-a/products/OFFICE-HOME-2024-WIN").get_data(as_text=True)
    assert f'data-embed-parent="{PARENT}"' in later  # kept for the frame's session
    assert "js/embed-frame.js" not in client.get("/p/shop-a/").get_data(as_text=True)


def test_paying_from_the_frame_opens_a_window_and_comes_back_to_the_partners_page(
        frame, framed, app):
    page = _get(frame, f"/embed/shop-a/products/OFFICE-HOME-2024-WIN?origin={PARENT}&return={PAGE}")
    _post(frame, "/embed/shop-a/cart/add/OFFICE-HOME-2024-WIN",
          {"csrf_token": _token(page.get_data(as_text=True)), "quantity": "1"})
    form = _get(frame, "/embed/shop-a/checkout").get_data(as_text=True)
    paying = _post(frame, "/embed/shop-a/checkout", {
        "csrf_token": _token(form), "quoted_total": quoted_total(form),
        "email": "camille@example.com", "name": "Camille Martin",
        "billing_country": "FR", "consent": "y", "terms": "y",
        "terms_version": in_force().version})
    assert paying.status_code == 200  # stays in the frame: payment opens in its own window
    html = paying.get_data(as_text=True)
    # The order holds the items now: the cart is emptied as payment starts, and the page says so.
    assert 'data-embed-event="checkout-started cart-changed"' in html
    assert '<span class="cart-count">0</span>' in html
    link = re.search(r'href="([^"]+)" target="_blank" rel="noopener"', html).group(1)
    link = link.replace("&amp;", "&")
    assert parse_qs(urlsplit(link).query)["to"] == [PAGE]
    order = _db.session.scalar(select(Order))
    assert order.source == "embed" and order.payment_status == PaymentStatus.PENDING
    status = _get(frame, f"/embed/shop-a/orders/{order.id}/status").get_json()
    version = status.pop("version")
    assert status == {"number": order.number, "payment_status": str(order.payment_status),
                      "fulfilment_status": str(order.fulfilment_status), "paid": False,
                      "delivered": False, "following": True,
                      "confirmation_url": f"/embed/shop-a/checkout/return/{order.id}"}
    assert re.fullmatch(r"[0-9a-f]{16}", version)

    window = app.test_client()  # the payment window: a top-level context of its own
    card = _get(window, urlsplit(link).path + "?" + urlsplit(link).query)
    paid = _post(window, urlsplit(link).path + "?" + urlsplit(link).query,
                 {"csrf_token": _token(card.get_data(as_text=True)),
                  "card_number": "4242 4242 4242 4242"})
    assert paid.status_code == 302
    back = _get(window, urlsplit(paid.location).path + "?" + urlsplit(paid.location).query)
    assert back.status_code == 302 and back.location == f"{PAGE}#comptoir-order={order.id}"

    assert _get(frame, f"/embed/shop-a/orders/{order.id}/status").get_json()["paid"] is True
    confirmed = _get(frame, f"/embed/shop-a/checkout/return/{order.id}").get_data(as_text=True)
    assert 'data-embed-event="order-paid ' in confirmed


def test_the_way_back_goes_only_to_the_partners_sites(client, framed, make_partner):
    from commerce.orders import BuyerDetails, LineRequest, place_order

    order = place_order(framed.a, [LineRequest("OFFICE-HOME-2024-WIN", 1)],
                        BuyerDetails("c@example.com", "C"), source="embed")
    _db.session.commit()
    token = access_token(order)
    for evil in ("https://evil.example/page", "javascript:alert(1)", "//evil.example",
                 f"https://user@{PARENT[8:]}/x"):
        answer = _get(client, f"/embed/shop-a/orders/paid/{token}", query_string={"to": evil})
        assert answer.status_code == 302
        assert answer.location.endswith(f"/orders/{order.id}"), (evil, answer.location)
    assert _get(client, f"/embed/shop-a/orders/paid/{token}x").status_code in (400, 404, 410)
    other = make_partner(slug="other-shop", embed_origins=PARENT)
    foreign = _get(client, f"/embed/{other.slug}/orders/paid/{token}", query_string={"to": PAGE})
    assert foreign.status_code != 302  # another partner's shop does not open this order
