"""The reseller's dashboard and clients list cost the same SQL statements at a few orders as
at hundreds, and the clients list goes a page at a time."""

from __future__ import annotations

import re
from datetime import timedelta

from support.statements import statements_of

from commerce.models import utcnow
from commerce.orders import ADDON_BACKUP
from demo_scale import bulk_orders

PORTAL = "/p/reseau-n/reseller"


def _figure(html: str, name: str) -> str:
    match = re.search(rf'data-figure="{name}">([^<]*)<', html)
    assert match, f"no figure {name}"
    return match.group(1)


def test_the_dashboard_costs_the_same_statements_at_3_and_303_orders(
        client, db, world, catalogue, sell, deliver, sign_in):
    now = utcnow()
    # A bit of everything the dashboard reads: a backup expiring, a prepaid subscription
    # ending, commissions payable and accrued.
    backed_up = sell(world.n, [("OFFICE-HOME-2024-WIN", 1, (ADDON_BACKUP,))], "ines@example.com",
                     code="RP-AAAA", paid_at=now - timedelta(days=720))
    deliver(backed_up, now - timedelta(days=720))
    prepaid = sell(world.n, [("M365-BUSINESS-STD-1Y", 1)], "marc@example.com", code="RP-AAAA",
                   paid_at=now - timedelta(days=350))
    deliver(prepaid, now - timedelta(days=350))
    recent = sell(world.n, [("VISIO-STD-2024", 1)], "lea@example.com", code="RP-AAAA",
                  paid_at=now - timedelta(hours=1))
    deliver(recent, now - timedelta(hours=1))
    sign_in("reseau-n", "a@dupont.example")
    pages = [f"{PORTAL}/", f"{PORTAL}/clients"]
    few = statements_of(client, pages)
    html = client.get(f"{PORTAL}/").get_data(as_text=True)
    assert _figure(html, "clients") == "3"
    assert "Licence backup expires on" in html and "Subscription ends on" in html

    bulk_orders(world.a, catalogue["OFFICE-HOME-2024-WIN"], 300,
                paid_since=now - timedelta(days=300))
    db.session.commit()
    many = statements_of(client, pages)
    html = client.get(f"{PORTAL}/").get_data(as_text=True)
    assert _figure(html, "clients") == "303"
    assert "Recent orders (10 of 303)" in html
    assert "Licence backup expires on" in html and "Subscription ends on" in html
    assert many == few


def test_the_clients_list_goes_a_page_at_a_time_and_keeps_the_search(
        client, db, world, catalogue, sign_in):
    bulk_orders(world.a, catalogue["OFFICE-HOME-2024-WIN"], 120,
                paid_since=utcnow() - timedelta(days=200))
    db.session.commit()
    sign_in("reseau-n", "a@dupont.example")
    first = client.get(f"{PORTAL}/clients").get_data(as_text=True)
    assert "120 clients" in first and 'aria-label="Pages of my clients"' in first
    emails = re.findall(r"<td>(b-client-\d+@example\.com)</td>", first)
    # Newest first: the last order's client heads the list; 50 to a page.
    assert len(emails) == 50 and emails[0] == "b-client-00119@example.com"
    third = client.get(f"{PORTAL}/clients?page=3").get_data(as_text=True)
    assert re.findall(r"<td>(b-client-\d+@example\.com)</td>", third)[-1] == \
        "b-client-00000@example.com"
    found = client.get(f"{PORTAL}/clients?q=client-0001").get_data(as_text=True)
    assert "10 clients match" in found and 'class="pagination"' not in found
    assert client.get(f"{PORTAL}/clients?page=4").status_code == 404
    assert client.get(f"{PORTAL}/clients?page=x").status_code == 400
    # Each client's name and number of orders come with the page.
    assert re.search(r"Client 00119</a></th>\s*<td>b-client-00119@example.com</td>\s*<td>[^<]*"
                     r"</td>\s*<td class=\"num\">1</td>", first)
