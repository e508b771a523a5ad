"""Each shop page costs the same SQL statements whatever the catalogue's size, and lists it a
page at a time: page links that keep the filters, bad page numbers refused cleanly."""

from __future__ import annotations

import re

import pytest
from support.statements import statements_of

from commerce.orders import ADDON_BACKUP
from demo_scale import bulk_catalogue

SMALL = 5  # fewer than the home page's eight featured offers: a lazy load per product shows
SHOP = "/p/scale-shop"
CODE = re.compile(r'href="/p/scale-shop/products/([A-Z0-9-]+)"')


@pytest.fixture
def partner(make_partner, make_product, db):  # type: ignore[no-untyped-def]
    backup = make_product(code=ADDON_BACKUP, kind="addon", family="addon", name="Sauvegarde",
                          list_price_cents=990, skus={})
    partner = make_partner(slug="scale-shop", domains=["scale-shop.example"], products=[backup])
    return partner


def _codes(client, url: str) -> list[str]:  # type: ignore[no-untyped-def]
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return CODE.findall(response.get_data(as_text=True))


PAGES = [f"{SHOP}/", f"{SHOP}/products", f"{SHOP}/products?q=generated",
         f"{SHOP}/products?family=office", f"{SHOP}/products/SMALL-00000", f"{SHOP}/cart"]


def test_each_shop_page_costs_the_same_statements_at_5_and_300_products(
        client, db, partner, add_to_cart):
    bulk_catalogue(partner, SMALL, prefix="SMALL")
    db.session.commit()
    add_to_cart("scale-shop", "SMALL-00001", backup=True)
    few = statements_of(client, PAGES)
    assert len(_codes(client, f"{SHOP}/products")) == SMALL

    bulk_catalogue(partner, 300 - SMALL, prefix="LARGE")
    db.session.commit()
    add_to_cart("scale-shop", "LARGE-00000")
    add_to_cart("scale-shop", "LARGE-00001", backup=True)
    many = statements_of(client, PAGES)
    # The pages do show more than before: a full page of the catalogue, eight featured offers.
    assert len(_codes(client, f"{SHOP}/products")) == 24
    assert len(set(_codes(client, f"{SHOP}/"))) == 8
    assert many == few
    # The catalogue itself: the partner, the count, the page, the families.
    assert few[f"{SHOP}/products"] <= 5, few


def test_the_catalogues_pages_follow_each_other_in_a_stable_order(client, db, partner):
    bulk_catalogue(partner, 60)
    db.session.commit()
    pages = [_codes(client, f"{SHOP}/products?page={n}") for n in (1, 2, 3)]
    assert [len(p) for p in pages] == [24, 24, 12]
    assert pages[0] + pages[1] + pages[2] == [f"BULK-{n:05d}" for n in range(60)]
    assert _codes(client, f"{SHOP}/products?page=1") == pages[0]
    html = client.get(f"{SHOP}/products?page=2&lang=en").get_data(as_text=True)
    assert "60 products" in html and "25 to 48 shown" in html


def test_page_links_keep_the_family_and_the_search(client, db, partner):
    bulk_catalogue(partner, 150)  # 25 office products: two pages
    db.session.commit()
    html = client.get(f"{SHOP}/products?family=office&q=generated&lang=en").get_data(as_text=True)
    nav = html[html.index('<nav class="pagination"'):]
    nav = nav[:nav.index("</nav>")]
    assert 'aria-label="Pages of the catalogue"' in nav
    current = re.search(r'<a href="([^"]+)" aria-current="page"[^>]*>1</a>', nav)
    assert current and "page=" not in current.group(1)  # page 1's address has no page number
    following = re.search(r'<a rel="next" href="([^"]+)"', nav)
    assert following
    link = following.group(1).replace("&amp;", "&")
    assert "page=2" in link and "family=office" in link and "q=generated" in link
    second = _codes(client, link)
    assert len(second) == 1 and second[0] not in _codes(client, current.group(1).replace(
        "&amp;", "&"))
    assert 'aria-current="page"' in client.get(link).get_data(as_text=True)


@pytest.mark.parametrize("value", ["abc", "0", "000", "-1", "1.5", " 2", "2x", "１"])
def test_a_page_number_that_is_not_a_whole_number_from_1_is_refused(client, partner, value):
    response = client.get(f"{SHOP}/products", query_string={"page": value})
    assert response.status_code == 400


@pytest.mark.parametrize("value", ["4", "999", "99999999999999999999999"])
def test_a_page_past_the_end_is_not_found(client, db, partner, value):
    bulk_catalogue(partner, 60)
    db.session.commit()
    assert client.get(f"{SHOP}/products?page={value}").status_code == 404
    assert client.get(f"{SHOP}/products?page=03").status_code == 200


def test_a_search_without_results_has_one_empty_page(client, db, partner):
    bulk_catalogue(partner, 30)
    db.session.commit()
    html = client.get(f"{SHOP}/products?q=nothing-like-this&lang=en").get_data(as_text=True)
    assert "No product matches your search." in html and 'class="pagination"' not in html
    assert client.get(f"{SHOP}/products?q=nothing-like-this&page=2").status_code == 404


def test_the_families_offered_are_the_ones_on_sale(client, db, partner, make_product):
    bulk_catalogue(partner, 3)  # office, microsoft365, windows
    db.session.commit()
    html = client.get(f"{SHOP}/?lang=en").get_data(as_text=True)
    chips = re.findall(r'class="chip" href="[^"]*family=([a-z0-9]+)"', html)
    assert chips == ["office", "microsoft365", "windows"]
