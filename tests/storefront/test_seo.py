"""Each shop has its sitemap and robots.txt on its own domain, and product pages carry
schema.org Product and Offer data."""

from __future__ import annotations

import json
import re
from xml.etree import ElementTree

NS = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
JSON_LD = re.compile(r'<script type="application/ld\+json">(.*?)</script>', re.S)


def locations(xml: bytes) -> list[str]:
    return [u.text or "" for u in ElementTree.fromstring(xml).findall("s:url/s:loc", NS)]  # noqa: S314 - our own answer


def test_each_partner_has_its_own_sitemap_with_its_own_products(client, shops):
    answer = client.get("/sitemap.xml", headers={"Host": "shop-a.example"})
    assert answer.status_code == 200 and answer.mimetype == "application/xml"
    urls = locations(answer.data)
    assert "http://shop-a.example:5000/products/OFFICE-HOME-2024-WIN" in urls
    assert "http://shop-a.example:5000/products/WIN11-PRO" in urls
    assert "http://shop-a.example:5000/legal/terms" in urls
    assert not any("VISIO" in u or "ADDON" in u for u in urls)  # shop B's, and add-ons
    urls_b = locations(client.get("/p/shop-b/sitemap.xml").data)  # by prefix: its own domain
    assert all(u.startswith("http://shop-b.example:5000/") for u in urls_b), urls_b
    assert "http://shop-b.example:5000/products/VISIO-STD-2024" in urls_b


def test_robots_points_at_the_sitemap_and_keeps_private_pages_out(client, shops):
    text = client.get("/robots.txt", headers={"Host": "shop-a.example"}).get_data(as_text=True)
    assert "Sitemap: http://shop-a.example:5000/sitemap.xml" in text
    assert "Disallow: /checkout" in text and "Disallow: /orders/" in text


def test_the_product_page_carries_its_product_and_offer(client, shops):
    page = client.get("/p/shop-a/products/OFFICE-HOME-2024-WIN?lang=en").get_data(as_text=True)
    data = json.loads(JSON_LD.search(page).group(1))
    assert data["@type"] == "Product" and data["sku"] == "OFFICE-HOME-2024-WIN"
    offer = data["offers"]
    assert (offer["@type"], offer["price"], offer["priceCurrency"]) == ("Offer", "139.00", "EUR")
    assert offer["url"] == "http://shop-a.example:5000/products/OFFICE-HOME-2024-WIN"
    assert offer["seller"]["name"] == "Shop A"
    assert ('<link rel="canonical" '
            'href="http://shop-a.example:5000/products/OFFICE-HOME-2024-WIN">') in page


def test_structured_data_cannot_close_its_script(client, db, shops):
    shops.office.description = "Tout </script><script>alert(1)</script> & plus"
    db.session.commit()
    page = client.get("/p/shop-a/products/OFFICE-HOME-2024-WIN?lang=fr").get_data(as_text=True)
    block = JSON_LD.search(page).group(1)
    assert json.loads(block)["description"].startswith("Tout </script>")
    assert "<" not in block
