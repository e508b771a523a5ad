"""The reseller dashboard: clients, orders, commissions by state, next payout, link, alerts."""

from __future__ import annotations

import base64
import re
from datetime import timedelta

from sqlalchemy import func, select

from commerce.models import utcnow
from commerce.orders import ADDON_BACKUP
from commissions import balances, run_payouts
from commissions.bank import set_bank_details
from commissions.models import LedgerEntry
from commissions.payouts import PROMISE, outlook


def _figure(html: str, name: str) -> str:
    match = re.search(rf'data-figure="{name}">([^<]*)<', html)
    assert match, f"no figure {name}"
    return match.group(1).replace("\u202f", " ").replace("\xa0", " ")


def test_dashboard_shows_the_ledger_by_state_to_the_cent(client, world, sell, deliver, sign_in,
                                                          db):
    now = utcnow()
    # Project Standard 1,129.00 incl. VAT: 940.83 net x 10% = 94.08, paid out 15 days ago.
    project = sell(world.n, [("PROJECT-STD-2024", 1)], "ines@example.com", "Inès Roy",
                   code="RP-AAAA", paid_at=now - timedelta(days=20))
    deliver(project, now - timedelta(days=20))
    assert len(run_payouts(now - timedelta(days=15))) == 1
    # Office Famille 149.00: 124.17 net x 8% = 9.93, past its 48 hours: payable.
    office = sell(world.n, [("OFFICE-HOME-2024-WIN", 1)], "ines@example.com", "Inès Roy",
                  paid_at=now - timedelta(days=10))
    deliver(office, now - timedelta(days=10))
    # Visio Standard 579.00: 482.50 net x 10% = 48.25, delivered an hour ago: accrued.
    visio = sell(world.n, [("VISIO-STD-2024", 1)], "marc@example.com", "Marc Petit",
                 code="RP-AAAA", paid_at=now - timedelta(hours=1))
    deliver(visio, now - timedelta(hours=1))
    # Reseller B's sale must not count for A.
    other = sell(world.n, [("VISIO-STD-2024", 2)], "zoe@example.com", "Zoé Blanc", code="RP-BBBB",
                 paid_at=now - timedelta(days=5))
    deliver(other, now - timedelta(days=5))

    amounts = dict(db.session.execute(
        select(LedgerEntry.order_id, func.sum(LedgerEntry.amount_cents))
        .where(LedgerEntry.reseller_id == world.a.id).group_by(LedgerEntry.order_id)).all())
    assert amounts == {project.id: 9408, office.id: 993, visio.id: 4825}
    figures = balances(world.a, now)
    assert (figures.accrued, figures.payable, figures.paid) == (4825, 993, 9408)

    sign_in("reseau-n", "a@dupont.example")
    html = client.get("/p/reseau-n/reseller/").get_data(as_text=True)
    assert _figure(html, "clients") == "2"
    assert _figure(html, "accrued") == "€48.25"
    assert _figure(html, "payable") == "€9.93"
    assert _figure(html, "paid") == "€94.08"
    # 9.93 is below the 50.00 minimum: 40.07 more is needed before a payout.
    assert "€40.07 more is needed" in _figure(html, "next-payout")
    for order in (project, office, visio):
        assert order.number in html
    assert other.number not in html and "zoe@example.com" not in html


def test_dashboard_announces_the_next_payout_once_the_minimum_is_reached(
        client, world, sell, deliver, sign_in):
    now = utcnow()
    order = sell(world.n, [("PROJECT-STD-2024", 1)], "ines@example.com", code="RP-AAAA",
                 paid_at=now - timedelta(days=3))
    deliver(order, now - timedelta(days=3))
    sign_in("reseau-n", "a@dupont.example")
    html = client.get("/p/reseau-n/reseller/").get_data(as_text=True)
    assert _figure(html, "next-payout").startswith("€94.08 is due, but it waits for your bank "
                                                   "details")
    set_bank_details(world.a, "FR76 3000 6000 0112 3456 7890 189", "AGRIFRPP", "Dupont SARL",
                     actor="test")
    html = client.get("/p/reseau-n/reseller/").get_data(as_text=True)
    # Due since the end of the 48-hour holding period (a day ago): promised two days after that.
    assert _figure(html, "next-payout").startswith(
        "€94.08 will be paid by SEPA transfer at the next hourly payout run, at ")
    promised = outlook(world.a, utcnow()).promised_by
    assert promised is not None and abs(promised - (now - timedelta(days=1) + PROMISE)) < (
        timedelta(minutes=1))
    assert _figure(html, "payout-account") == "Payouts go to FR76 **** **** **** **** ***0 189."


def test_dashboard_gives_the_referral_link_and_its_qr_code(client, world, sign_in, db):
    from commerce.models import Partner

    sign_in("reseau-n", "a@dupont.example")
    html = client.get("/p/reseau-n/reseller/").get_data(as_text=True)
    host = db.session.scalar(select(Partner).where(Partner.slug == "reseau-n")).primary_host
    assert f'value="http://{host}:5000/?ref=RP-AAAA"' in html  # on the partner's own domain
    qr = re.search(r'<img src="data:image/svg\+xml;base64,([^"]+)" alt="QR code of your referral '
                   r'link"', html)
    assert qr and base64.b64decode(qr.group(1)).startswith(b"<?xml")
    assert "Nothing renews, ends or expires in the next 30 days." in html
    assert "No order through you yet" in html


def test_dashboard_warns_of_subscriptions_and_backups_ending_within_30_days(
        client, world, sell, deliver, sign_in):
    now = utcnow()
    ending = sell(world.n, [("M365-BUSINESS-STD-1Y", 1)], "ines@example.com", "Inès Roy",
                  code="RP-AAAA", paid_at=now - timedelta(days=350))
    deliver(ending, now - timedelta(days=350))
    running = sell(world.n, [("M365-BUSINESS-STD-1Y", 1)], "marc@example.com", "Marc Petit",
                   code="RP-AAAA", paid_at=now - timedelta(days=200))
    deliver(running, now - timedelta(days=200))
    backed_up = sell(world.n, [("OFFICE-HOME-2024-WIN", 1, (ADDON_BACKUP,))], "ines@example.com",
                     "Inès Roy", paid_at=now - timedelta(days=720))
    deliver(backed_up, now - timedelta(days=720))
    # Another reseller's client in the same state: not A's alert.
    theirs = sell(world.n, [("M365-BUSINESS-STD-1Y", 1)], "zoe@example.com", "Zoé Blanc",
                  code="RP-BBBB", paid_at=now - timedelta(days=350))
    deliver(theirs, now - timedelta(days=350))

    sign_in("reseau-n", "a@dupont.example")
    html = client.get("/p/reseau-n/reseller/").get_data(as_text=True)
    alerts = html.split('id="alerts"')[1].split("</section>")[0]
    assert "Subscription ends on" in alerts and ending.number in alerts
    assert "Licence backup expires on" in alerts and backed_up.number in alerts
    assert running.number not in alerts and theirs.number not in alerts


def test_a_renewed_subscription_is_no_longer_an_alert(client, world, sell, deliver, sign_in):
    now = utcnow()
    first = sell(world.n, [("M365-BUSINESS-STD-1Y", 1)], "ines@example.com", code="RP-AAAA",
                 paid_at=now - timedelta(days=350))
    deliver(first, now - timedelta(days=350))
    renewal = sell(world.n, [("M365-BUSINESS-STD-1Y", 1)], "ines@example.com",
                   paid_at=now - timedelta(days=2))
    deliver(renewal, now - timedelta(days=2))
    sign_in("reseau-n", "a@dupont.example")
    html = client.get("/p/reseau-n/reseller/").get_data(as_text=True)
    assert "Nothing renews, ends or expires in the next 30 days." in html
