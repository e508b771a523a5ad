"""Partner resolution and isolation: A's buyers never see B's products, prices or orders."""

from __future__ import annotations

import re

from sqlalchemy import select
from support.shops import SAME_ORIGIN

from commerce.models import Order


def test_partner_is_resolved_from_its_own_domain(client, shops):
    response = client.get("/products", headers={"Host": "shop-a.example"})
    assert response.status_code == 200
    assert "Shop A" in response.get_data(as_text=True)


def test_partner_is_resolved_from_the_slug_prefix_and_links_keep_it(client, shops):
    html = client.get("/p/shop-b/products").get_data(as_text=True)
    assert "Shop B" in html
    assert 'href="/p/shop-b/products/OFFICE-HOME-2024-WIN"' in html
    assert 'href="/p/shop-b/cart"' in html


def test_unknown_host_gets_a_neutral_404(client, shops):
    response = client.get("/", headers={"Host": "evil.example"})
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "Shop A" not in html and "Shop B" not in html


def test_unknown_slug_gets_a_neutral_404(client, shops):
    for url in ("/p/nobody/", "/p/nobody/products", "/p/NOT_A_SLUG/", "/p/shop-a%20x/"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "Shop A" not in response.get_data(as_text=True)


def test_each_shop_lists_only_its_own_catalogue_at_its_own_prices(client, shops):
    a = client.get("/p/shop-a/products").get_data(as_text=True)
    b = client.get("/p/shop-b/products").get_data(as_text=True)
    assert "Windows 11 Pro" in a and "Visio Standard 2024" not in a
    assert "Visio Standard 2024" in b and "Windows 11 Pro" not in b
    assert re.search(r"139,00\s€", a) and not re.search(r"125,00\s€", a)
    assert re.search(r"125,00\s€", b) and not re.search(r"139,00\s€", b)


def test_another_partners_product_page_is_not_found(client, shops):
    assert client.get("/p/shop-a/products/VISIO-STD-2024").status_code == 404
    assert (
        client.get("/products/VISIO-STD-2024", headers={"Host": "shop-a.example"}).status_code
        == 404
    )


def test_adding_another_partners_product_is_refused(client, shops):
    response = client.post(
        "/p/shop-a/cart/add/VISIO-STD-2024", data={"quantity": 1}, headers=SAME_ORIGIN
    )
    assert response.status_code == 404
    assert "Visio Standard" not in client.get("/p/shop-a/cart").get_data(as_text=True)


def test_carts_are_kept_apart_per_partner(client, shops, add_to_cart):
    add_to_cart("shop-a", "WIN11-PRO")
    assert "Windows 11 Pro" in client.get("/p/shop-a/cart").get_data(as_text=True)
    assert "Windows 11 Pro" not in client.get("/p/shop-b/cart").get_data(as_text=True)


def test_an_order_of_partner_a_is_invisible_from_partner_b(
    client, shops, add_to_cart, checkout, db
):
    add_to_cart("shop-a", "OFFICE-HOME-2024-WIN")
    checkout("shop-a")
    order = db.session.scalar(select(Order))
    assert client.get(f"/p/shop-a/orders/{order.id}").status_code == 200
    assert client.get(f"/p/shop-b/orders/{order.id}").status_code == 404
    assert client.get(f"/p/shop-b/checkout/return/{order.id}").status_code == 404
    assert client.get(f"/p/shop-b/pay/test/{order.gateway_reference}").status_code == 404


def test_an_order_is_invisible_to_another_visitor(client, app, shops, add_to_cart, checkout, db):
    add_to_cart("shop-a", "OFFICE-HOME-2024-WIN")
    checkout("shop-a")
    order = db.session.scalar(select(Order))
    stranger = app.test_client()
    assert stranger.get(f"/p/shop-a/orders/{order.id}").status_code == 404


def test_shop_pages_are_not_served_on_the_platform_host(client, shops):
    assert client.get("/products").status_code == 404
    assert client.get("/cart").status_code == 404


def test_back_office_is_not_served_on_a_partner_shop(client, shops):
    assert client.get("/p/shop-a/admin/").status_code == 404
    assert client.get("/admin/", headers={"Host": "shop-a.example"}).status_code == 404


def test_each_shop_renders_its_own_brand_colours(client, shops):
    a = client.get("/p/shop-a/").get_data(as_text=True)
    b = client.get("/p/shop-b/").get_data(as_text=True)
    assert "--brand-primary:#0b5394" in a and "--brand-primary:#5b21b6" in b
