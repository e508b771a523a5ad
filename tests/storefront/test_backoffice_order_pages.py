"""The back office's order list: a page at a time, newest first, filters kept, the same SQL
statements at a few orders as at many."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from support.statements import statements_of

from commerce.models import utcnow
from commissions import create_reseller
from demo_scale import bulk_orders

NUMBER = re.compile(r">((?:AA|BB)\d{8,9})</a></th>")


@pytest.fixture
def shops(make_partner, make_product, db):  # type: ignore[no-untyped-def]
    product = make_product(code="OFFICE-HOME-2024-WIN")
    partners = [make_partner(slug=slug, products=[product]) for slug in ("shop-aa", "shop-bb")]
    resellers = [create_reseller(p, f"Reseller {p.slug}", f"r@{p.slug}.example") for p in partners]
    db.session.commit()

    def add(count: int, since_days: int, prefix: str = "") -> None:
        for reseller, code in zip(resellers, ("AA", "BB"), strict=True):
            bulk_orders(reseller, product, count, paid_since=utcnow() - timedelta(days=since_days),
                        prefix=f"{code}{prefix}")
        db.session.commit()

    return add


def test_the_order_list_costs_the_same_statements_at_6_and_126_orders(client, shops,
                                                                       sign_in_operator):
    sign_in_operator(client)
    pages = ["/admin/", "/admin/?partner=shop-aa", "/admin/?payment=paid"]
    shops(3, 10)
    few = statements_of(client, pages)
    shops(60, 100, prefix="9")
    assert len(NUMBER.findall(client.get("/admin/").get_data(as_text=True))) == 50
    assert statements_of(client, pages) == few


def test_the_order_list_goes_newest_first_a_page_at_a_time_keeping_its_filters(
        client, shops, sign_in_operator):
    sign_in_operator(client)
    shops(60, 10)  # AA00000000.. and BB00000000.., AA and BB a minute apart in turn
    first = client.get("/admin/?partner=shop-aa&lang=en").get_data(as_text=True)
    numbers = NUMBER.findall(first)
    assert numbers == [f"AA{n:08d}" for n in range(59, 9, -1)]
    assert "Orders found: 60" in first and 'aria-label="Pages of the orders"' in first
    following = re.search(r'<a rel="next" href="([^"]+)"', first)
    assert following and "partner=shop-aa" in following.group(1)
    second = client.get(following.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert NUMBER.findall(second) == [f"AA{n:08d}" for n in range(9, -1, -1)]
    assert client.get("/admin/?page=3&partner=shop-aa").status_code == 404
    assert client.get("/admin/?page=none").status_code == 400
