"""The demo's history: after `demo load`, every page a newcomer opens has something on it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from support.forms import csrf_from

from extensions import utcnow


@pytest.fixture
def loaded(app, db):
    import demo

    counts = demo.load()
    return counts


def _buyer_orders(db):
    import demo
    from commerce.models import Order

    return db.session.scalars(select(Order).where(Order.email == demo.LOGINS["buyer"]["email"])
                              .order_by(Order.created_at)).all()


def test_demo_load_makes_a_lived_in_history_once(db, loaded, runner):
    """Orders over months, a backup, a refund, a subscription, commissions, a payout; once."""
    _buyer_history(db, loaded)
    _subscription(db)
    _reseller_ledger(db)
    _second_load_adds_nothing(db, runner)


def test_every_demo_page_shows_the_history(app, db, loaded, sign_in_operator):
    """The buyer's account, order and backup pages, the reseller's portal, the back office."""
    _buyer_pages(app.test_client(), db)
    _reseller_pages(app.test_client(), db)
    _find_my_licence(app, db)
    _back_office_lists(app.test_client(), db, sign_in_operator)


def _buyer_history(db, loaded):
    from backups.vault.models import Backup, BackupStatus
    from commerce.models import FulfilmentStatus, PaymentStatus
    from fulfilment.models import DeliveredUnit
    from invoicing.models import Invoice

    orders = _buyer_orders(db)
    assert loaded["history_orders"] == 8 and len(orders) == 5
    now = utcnow()
    assert orders[0].created_at < now - timedelta(days=90)
    assert all(o.paid_at is not None and o.paid_at >= o.created_at for o in orders)
    refunded = [o for o in orders if o.payment_status == PaymentStatus.REFUNDED]
    delivered = [o for o in orders if o.fulfilment_status == FulfilmentStatus.DELIVERED]
    assert len(refunded) == 1 and len(delivered) == 4
    units = db.session.scalars(select(DeliveredUnit)).all()
    assert units and all(u.licence_token for u in units if u.status == "active")
    kinds = {i.kind for i in db.session.scalars(select(Invoice))}
    assert kinds == {"invoice", "credit_note"}
    backup = db.session.scalar(select(Backup))
    assert backup is not None and backup.status == BackupStatus.STORED
    assert backup.stored_at < now - timedelta(days=90) < backup.expires_at - timedelta(days=600)


def _subscription(db):
    from subscriptions.models import Subscription, SubscriptionStatus

    sub = db.session.scalar(select(Subscription))
    assert sub is not None and sub.status == SubscriptionStatus.ACTIVE
    assert utcnow() < sub.current_period_end < utcnow() + timedelta(days=10)
    assert sub.reseller_id is not None and sub.gateway_subscription


def _reseller_ledger(db):
    from commissions.models import EntryKind, LedgerEntry, Payout, PayoutStatus, ResellerClient
    from commissions.services import balances

    entries = db.session.scalars(select(LedgerEntry)).all()
    reseller = entries[0].reseller
    now = utcnow()
    assert {e.kind for e in entries} == {EntryKind.ACCRUAL, EntryKind.CLAWBACK}
    assert any(e.payout_id is None and e.payable_at > now for e in entries)  # accrued
    assert any(e.payout_id is None and e.payable_at <= now and e.kind == EntryKind.ACCRUAL
               and not any(c.kind == EntryKind.CLAWBACK and c.order_line_id == e.order_line_id
                           for c in entries) for e in entries)  # payable
    totals = balances(reseller, now)
    assert totals.accrued > 0 and totals.payable > 0 and totals.paid > 0
    payout = db.session.scalar(select(Payout))
    assert payout is not None and payout.status == PayoutStatus.IN_FILE and payout.batch is not None
    assert payout.created_at < now - timedelta(days=7) and payout.statement_pdf
    assert db.session.scalar(select(func.count()).select_from(ResellerClient)) == 3


def _second_load_adds_nothing(db, runner):
    from commerce.models import Order
    from commissions.models import LedgerEntry

    def counts():
        return tuple(db.session.scalar(select(func.count()).select_from(m))
                     for m in (Order, LedgerEntry))

    before = counts()
    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    assert "already there" in result.output
    assert counts() == before


def _sign_in(client, path: str, email: str, password: str) -> None:
    page = client.get(f"{path}?lang=en").get_data(as_text=True)
    response = client.post(path, data={"csrf_token": csrf_from(page), "email": email,
                                       "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)[:400]


def _buyer_pages(client, db):
    import demo
    from commerce.models import PaymentStatus

    login = demo.LOGINS["buyer"]
    _sign_in(client, "/p/reseaupro/account/signin", login["email"], login["password"])
    account = client.get("/p/reseaupro/account/?lang=en").get_data(as_text=True)
    orders = [o for o in _buyer_orders(db) if o.partner.slug == "reseaupro"]
    assert all(o.number in account for o in orders)
    assert "Microsoft 365 Business Standard" in account
    from subscriptions.models import Subscription

    sub = db.session.scalar(select(Subscription))
    page = client.get(f"/p/reseaupro/account/subscriptions/{sub.number}?lang=en")
    assert page.status_code == 200 and sub.number in page.get_data(as_text=True)
    refunded = next(o for o in orders if o.payment_status == PaymentStatus.REFUNDED)
    page = client.get(f"/p/reseaupro/orders/{refunded.id}?lang=en")
    assert page.status_code == 200 and refunded.number in page.get_data(as_text=True)
    _sign_in(client, "/p/novatech/account/signin", login["email"], login["password"])
    backed_up = client.get("/p/novatech/account/?lang=en").get_data(as_text=True)
    assert "My licence backups" in backed_up and "Office" in backed_up
    order = next(o for o in _buyer_orders(db) if o.partner.slug == "novatech")
    page = client.get(f"/p/novatech/orders/{order.id}?lang=en")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and order.number in text
    assert "Product key" in text and "Signed licence" in text


def _reseller_pages(client, db):
    from commissions.demo import DEMO_PASSWORD, demo_code

    email = "revendeur1@reseaupro.demo-comptoir.example"
    _sign_in(client, "/p/reseaupro/reseller/signin", email, DEMO_PASSWORD)
    dashboard = client.get("/p/reseaupro/reseller/?lang=en")
    assert dashboard.status_code == 200 and demo_code("reseaupro", 1) in dashboard.get_data(
        as_text=True)
    clients = client.get("/p/reseaupro/reseller/clients?lang=en").get_data(as_text=True)
    assert "paul.roux@atelier-roux.example" in clients
    commissions = client.get("/p/reseaupro/reseller/commissions?lang=en").get_data(as_text=True)
    assert "VISIO-STD-2024" in commissions and "WINSRV-2025-STD" in commissions
    from commissions.models import Payout

    assert db.session.scalar(select(Payout.number)) in commissions
    subscriptions = client.get("/p/reseaupro/reseller/subscriptions?lang=en")
    assert "AB-" in subscriptions.get_data(as_text=True)


def _back_office_lists(client, db, sign_in_operator):
    from commerce.models import Order
    from commissions.models import Payout

    sign_in_operator(client)
    number = db.session.scalar(select(Order.number).order_by(Order.created_at.desc()).limit(1))
    assert number in client.get("/admin/?lang=en").get_data(as_text=True)
    invoices = client.get("/admin/invoices?lang=en").get_data(as_text=True)
    assert "credit" in invoices.lower()
    payout = db.session.scalar(select(Payout))
    assert payout.number in client.get("/admin/payouts?lang=en").get_data(as_text=True)
    events = client.get("/admin/events?lang=en")
    # A healthy history leaves no event waiting: the page says so, with the circuits.
    assert events.status_code == 200 and "Every event has been handled." in events.get_data(
        as_text=True)
    from fulfilment.models import FulfilmentLine, LineStatus

    stuck = db.session.scalar(select(FulfilmentLine)
                              .where(FulfilmentLine.status == LineStatus.NEEDS_ATTENTION))
    assert stuck is not None
    attention = client.get("/admin/attention?lang=en").get_data(as_text=True)
    assert stuck.order_line.order.number in attention


def _find_my_licence(app, db):
    """The find page's e-mailed link opens the backup of the demo's first order."""
    import demo
    from backups.links import issue_link
    from commerce.models import Partner

    novatech = db.session.scalar(select(Partner).where(Partner.slug == "novatech"))
    issued = issue_link(novatech, demo.LOGINS["buyer"]["email"])
    db.session.commit()
    assert issued is not None
    client = app.test_client()
    assert client.get(f"/p/novatech/backups/link/{issued.token}").status_code == 302
    page = client.get("/p/novatech/backups/link?lang=en")
    assert page.status_code == 200 and "Office" in page.get_data(as_text=True)
