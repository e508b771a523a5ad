"""A product page lets the buyer pick another edition of its line (then PC or Mac) and compare
the editions side by side, from what the partner sells."""

from __future__ import annotations

import re

import pytest


@pytest.fixture
def office_line(make_product, make_partner):  # type: ignore[no-untyped-def]
    def office(code, name, edition, platform, price):  # type: ignore[no-untyped-def]
        return make_product(code=code, name=name, edition=edition, platform=platform,
                            list_price_cents=price, line="office-2024")

    products = [
        office("OFF-H-WIN", "Office Famille 2024", "Home 2024", "windows", 14900),
        office("OFF-H-MAC", "Office Famille 2024 pour Mac", "Home 2024", "mac", 14900),
        office("OFF-HB-WIN", "Office Famille et Petite Entreprise 2024", "Home & Business 2024",
               "windows", 29900),
        office("OFF-HB-MAC", "Office Famille et Petite Entreprise 2024 pour Mac",
               "Home & Business 2024", "mac", 29900),
    ]
    family = make_product(code="M365-FAM", family="microsoft365", name="Microsoft 365 Famille",
                          edition="Family", platform="multi", seats=6, seat_unit="user",
                          licence_type="subscription", term_months=12, line="m365-home")
    alone = make_product(code="M365-PERS", family="microsoft365", name="Microsoft 365 Personnel",
                         edition="Personal", platform="multi", seats=1, seat_unit="user",
                         licence_type="subscription", term_months=12, line="m365-home")
    # The partner sells all but the Mac edition of Home & Business, and not Personal at all.
    return make_partner(slug="line-shop", products=[*products[:3], family],
                        prices={"OFF-HB-WIN": 27900}), alone


def _page(client, code: str) -> str:  # type: ignore[no-untyped-def]
    answer = client.get(f"/p/line-shop/products/{code}?lang=en")
    assert answer.status_code == 200
    return answer.get_data(as_text=True)


def _chips(html: str, label: str) -> list[tuple[str, bool]]:
    nav = re.search(rf'<nav class="picker" aria-label="{label}">(.*?)</nav>', html, re.S)
    if nav is None:
        return []
    return [(text.strip(), "aria-current" in attrs) for attrs, text in
            re.findall(r'<a href="[^"]+" class="chip[^"]*"([^>]*)>([^<]+)</a>', nav.group(1))]


def test_the_picker_offers_each_edition_then_each_computer(client, office_line):
    html = _page(client, "OFF-H-MAC")
    assert _chips(html, "Edition") == [("Office Famille 2024 pour Mac", True),
                                       ("Office Famille et Petite Entreprise 2024", False)]
    assert _chips(html, "Computer") == [("Windows PC", False), ("Mac", True)]
    assert 'href="/p/line-shop/products/OFF-H-WIN"' in html
    # Home & Business only exists for PC at this partner: no computer to choose there.
    other = _page(client, "OFF-HB-WIN")
    assert _chips(other, "Computer") == []
    assert _chips(other, "Edition")[1] == ("Office Famille et Petite Entreprise 2024", True)


def test_the_comparison_shows_each_edition_at_the_partners_price(client, office_line):
    html = _page(client, "OFF-H-WIN")
    table = re.search(r'<table class="compare">.*?</table>', html, re.S).group(0)
    assert "Compare the editions" in table
    heads = re.findall(r'<th scope="col"[^>]*>([^<]+)', table)
    assert heads == ["Office Famille 2024", "Office Famille et Petite Entreprise 2024"]
    assert "€149.00" in table and "€279.00" in table  # the partner's price, not the list's
    assert "Windows PC, Mac" in table and "Personnel" not in table
    assert 'href="/p/line-shop/products/OFF-HB-WIN"' in table


def test_users_are_compared_within_a_subscription_line(client, office_line, db):
    shop, alone = office_line
    from commerce.models import PartnerProduct

    shop.offers.append(PartnerProduct(product=alone, price_cents=9900, position=9))
    db.session.commit()
    table = re.search(r'<table class="compare">.*?</table>', _page(client, "M365-FAM"),
                      re.S).group(0)
    assert "up to 6 users" in table and "1 user" in table


def test_a_product_alone_in_its_line_shows_no_picker(client, office_line):
    html = _page(client, "M365-FAM")  # its line's other edition is not sold here
    assert 'class="editions"' not in html
