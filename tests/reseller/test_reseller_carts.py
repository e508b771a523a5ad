"""A reseller prepares a cart; the client's order through that link is credited to the reseller."""

from __future__ import annotations

import re

from sqlalchemy import select
from support.links import shop_path
from support.shops import quoted_total

from commerce.models import Order, Partner
from commissions import attribution_for
from legal.terms import in_force


def _link(html: str) -> str:
    return re.search(r'id="cart-link"[^>]*value="([^"]+)"', html).group(1)


def test_a_prepared_cart_opens_for_the_client_and_the_order_is_the_resellers(
    app, client, world, sign_in, form_token, db
):
    sign_in("reseau-n", "a@dupont.example")
    token = form_token("/p/reseau-n/reseller/carts")
    response = client.post(
        "/p/reseau-n/reseller/carts",
        data={
            "csrf_token": token,
            "qty-OFFICE-HOME-2024-WIN": "2",
            "backup-OFFICE-HOME-2024-WIN": "y",
            "qty-VISIO-STD-2024": "0",
        },
    )
    assert response.status_code == 200
    link = _link(response.get_data(as_text=True))
    host = db.session.scalar(select(Partner).where(Partner.slug == "reseau-n")).primary_host
    assert link.startswith(f"http://{host}:5000/cart/from/")  # the partner's own domain

    buyer = app.test_client()
    assert buyer.get(shop_path(link)).status_code == 302
    cart_page = buyer.get("/p/reseau-n/cart?lang=en").get_data(as_text=True)
    assert "Office Famille 2024" in cart_page and 'value="2"' in cart_page
    html = buyer.get("/p/reseau-n/checkout").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    buyer.post(
        "/p/reseau-n/checkout",
        data={
            "csrf_token": csrf,
            "quoted_total": quoted_total(html),
            "email": "client@example.com",
            "name": "Client",
            "billing_country": "FR",
            "consent": "y",
            "terms": "y",
            "terms_version": in_force().version,
        },
    )
    order = db.session.scalar(select(Order))
    assert [(line.product_code, line.quantity) for line in order.lines] == [
        ("OFFICE-HOME-2024-WIN", 2),
        ("ADDON-BACKUP-2Y", 2),
    ]
    attribution = attribution_for(order.id)
    assert attribution.reseller.code == "RP-AAAA" and str(attribution.rule) == "assisted"


def test_bad_quantities_and_empty_carts_are_refused(client, world, sign_in, form_token):
    sign_in("reseau-n", "a@dupont.example")
    token = form_token("/p/reseau-n/reseller/carts")
    response = client.post(
        "/p/reseau-n/reseller/carts", data={"csrf_token": token, "qty-OFFICE-HOME-2024-WIN": "11"}
    )
    assert (
        response.status_code == 400
        and 'id="qty-OFFICE-HOME-2024-WIN-error"' in response.get_data(as_text=True)
    )
    response = client.post("/p/reseau-n/reseller/carts", data={"csrf_token": token})
    assert response.status_code == 400 and "Choose at least one product" in response.get_data(
        as_text=True
    )
    assert (
        client.post(
            "/p/reseau-n/reseller/carts", data={"qty-OFFICE-HOME-2024-WIN": "1"}
        ).status_code
        == 400
    )


def test_preparing_a_cart_needs_a_signed_in_reseller(client, world):
    response = client.get("/p/reseau-n/reseller/carts")
    assert response.status_code == 302 and "/reseller/signin" in response.location
