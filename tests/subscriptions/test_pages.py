"""The pages around a subscription: the reseller prepares users or an application, the client
approves and pays by link, the buyer's account shows and cancels, the portal warns in time."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from support.subscription_helpers import DECLINED, ledger_of, set_term, subscription_of

from commerce.models import Order, PaymentStatus, utcnow
from subscriptions.models import (
    ChangeStatus,
    SubscriptionChange,
    SubscriptionCharge,
    SubscriptionStatus,
)
from subscriptions.services import renew_due

PASSWORD = "reseller password 2026"  # noqa: S105 (a test login)
LINK_RE = re.compile(r"http://[^\"<\s]+/subscriptions/change/[A-Za-z0-9_-]+")


@pytest.fixture(autouse=True)
def english(client) -> None:
    with client.session_transaction() as session:
        session["lang"] = "en"


def _sign_in_reseller(client, form_token):
    token = form_token("/p/reseau/reseller/signin")
    client.post("/p/reseau/reseller/signin",
                data={"csrf_token": token, "email": "a@dupont.example", "password": PASSWORD})


def _prepare(client, form_token, sub, product: str, seats: int):
    page = f"/p/reseau/reseller/subscriptions/{sub.number}"
    token = form_token(page)
    response = client.post(page, data={"csrf_token": token, "product": product,
                                       "seats": str(seats), "note": "Pour l'équipe compta"})
    return response


def _link(response) -> str:
    found = LINK_RE.search(response.get_data(as_text=True))
    assert found, "no link on the page"
    return "/p/reseau" + found.group(0).split(":5000", 1)[-1].split(".example", 1)[-1]


def _approve(client, link: str, csrf: str | None = None, **overrides):
    page = client.get(link)
    html = page.get_data(as_text=True)
    fields = dict(re.findall(r'name="(csrf_token|quoted_total)"[^>]*value="([^"]*)"', html))
    fields.setdefault("csrf_token", csrf or "")
    fields |= {"approve": "y", **overrides}
    return client.post(link, data=fields)


def _token(client, link: str) -> str:
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get(link).get_data(
        as_text=True))
    assert found
    return found.group(1)


def _running(db, buy, seats=5):
    sub = subscription_of(db, buy("M365-BUSINESS-STD-1Y", seats=seats))
    now = utcnow().replace(microsecond=0)
    set_term(db, sub, now - timedelta(days=90), now + timedelta(days=275))
    return sub


def test_a_reseller_adds_users_and_the_client_approves_and_pays_by_link(
        db, buy, reseller, client, form_token):
    sub = _running(db, buy)
    _sign_in_reseller(client, form_token)
    listing = client.get("/p/reseau/reseller/subscriptions").get_data(as_text=True)
    assert sub.number in listing and "ines@example.com" in listing

    response = _prepare(client, form_token, sub, "M365-BUSINESS-STD-1Y", 3)
    assert response.status_code == 200
    link = _link(response)
    db.session.refresh(sub)
    assert sub.seats == 5  # nothing changes before the client approves

    client.post("/p/reseau/reseller/signout", data={"csrf_token": form_token(
        "/p/reseau/reseller/")})
    offer = client.get(link).get_data(as_text=True)
    assert "To pay now" in offer and "Pour l&#39;équipe compta" in offer
    token = _token(client, link)
    assert _approve(client, link).status_code == 302

    db.session.expire_all()
    assert sub.seats == 8
    change = db.session.scalar(select(SubscriptionChange))
    assert change.status == ChangeStatus.APPLIED
    charge = db.session.scalar(select(SubscriptionCharge))
    order = db.session.get(Order, charge.order_id)
    assert order.payment_status == PaymentStatus.PAID and order.lines[0].seats == 3
    assert [e.rule for e in ledger_of(db, reseller)] == [
        "subscription.first_year", "subscription.upsell"]

    again = _approve(client, link, csrf=token)  # the same link, approved twice: paid once
    assert again.status_code == 409 and "already in force" in again.get_data(as_text=True)
    assert db.session.scalar(select(func.count(SubscriptionCharge.id))) == 1


def test_an_application_is_added_bought_at_the_wholesaler_and_co_termed(
        db, buy, reseller, client, form_token):
    sub = _running(db, buy)
    _sign_in_reseller(client, form_token)
    link = _link(_prepare(client, form_token, sub, "VISIO-PLAN2-1Y", 2))
    assert _approve(client, link).status_code == 302
    db.session.expire_all()
    assert sorted((i.product_code, i.seats) for i in sub.items) == [
        ("M365-BUSINESS-STD-1Y", 5), ("VISIO-PLAN2-1Y", 2)]
    order = db.session.get(Order, db.session.scalar(select(SubscriptionCharge.order_id)))
    assert order.fulfilment_status == "delivered"  # bought and delivered like any line
    from licensing.models import LicenceRecord

    licence = db.session.scalar(select(LicenceRecord).where(
        LicenceRecord.order_line_ref == str(order.lines[0].id)))
    assert licence is not None
    assert licence.expires_at == sub.current_period_end.replace(microsecond=0)  # signed in s


def test_a_declined_card_changes_nothing_and_the_link_stays_open(
        db, buy, reseller, client, form_token):
    sub = _running(db, buy)
    sub.payment_method = f"testcard:{DECLINED}"
    db.session.commit()
    _sign_in_reseller(client, form_token)
    link = _link(_prepare(client, form_token, sub, "M365-BUSINESS-STD-1Y", 3))
    refused = _approve(client, link)
    assert refused.status_code == 409 and "declined" in refused.get_data(as_text=True)
    db.session.expire_all()
    assert sub.seats == 5
    assert db.session.scalar(select(SubscriptionChange)).status == ChangeStatus.PREPARED
    order = db.session.get(Order, db.session.scalar(select(SubscriptionCharge.order_id)))
    assert order.payment_status == PaymentStatus.FAILED
    assert [e.rule for e in ledger_of(db, reseller)] == ["subscription.first_year"]


def test_a_stale_price_an_unknown_link_and_another_resellers_client_are_refused(
        db, buy, reseller, client, form_token, shop):
    sub = _running(db, buy)
    _sign_in_reseller(client, form_token)
    link = _link(_prepare(client, form_token, sub, "M365-BUSINESS-STD-1Y", 3))
    stale = _approve(client, link, quoted_total="1")
    assert stale.status_code == 409 and "amount changed" in stale.get_data(as_text=True)
    assert client.get("/p/reseau/subscriptions/change/not-a-token").status_code == 404
    bad = _prepare(client, form_token, sub, "M365-BUSINESS-STD-1Y", 0)
    assert bad.status_code == 400
    # A client of nobody: the reseller's portal does not show it.
    other = subscription_of(db, buy("M365-BUSINESS-STD-1Y", seats=1, email="zoe@example.com",
                                    reseller_code=None))
    assert client.get(f"/p/reseau/reseller/subscriptions/{other.number}").status_code == 404
    db.session.expire_all()
    assert sub.seats == 5


def test_the_alert_before_the_end_of_a_term_stays_after_users_are_added(
        db, buy, reseller, client, form_token):
    sub = _running(db, buy)
    now = utcnow()
    set_term(db, sub, now - timedelta(days=345), now + timedelta(days=20))
    _sign_in_reseller(client, form_token)
    link = _link(_prepare(client, form_token, sub, "M365-BUSINESS-STD-1Y", 2))
    client.post("/p/reseau/reseller/signout", data={"csrf_token": form_token(
        "/p/reseau/reseller/")})
    assert _approve(client, link).status_code == 302
    # Also a later shop order of the same plan in mid-term: users added, not a renewal.
    buy("M365-BUSINESS-STD-1Y", seats=1)
    _sign_in_reseller(client, form_token)
    html = client.get("/p/reseau/reseller/").get_data(as_text=True)
    alerts = html.split('id="alerts"')[1].split("</section>")[0]
    assert "Subscription renews on" in alerts and sub.number in alerts
    assert "7 users" in alerts


def test_the_buyer_sees_and_stops_the_renewal_from_the_account(
        db, buy, reseller, client, form_token, make_user):
    sub = _running(db, buy)
    make_user(email="ines@example.com", password="buyer pass 2026!")
    token = form_token("/p/reseau/account/signin")
    client.post("/p/reseau/account/signin", data={"csrf_token": token,
                                                   "email": "ines@example.com",
                                                   "password": "buyer pass 2026!"})
    account = client.get("/p/reseau/account/").get_data(as_text=True)
    assert sub.number in account and "Next renewal" in account
    page = f"/p/reseau/account/subscriptions/{sub.number}"
    detail = client.get(page).get_data(as_text=True)
    assert "Stop the renewal" in detail and "History" in detail
    unticked = client.post(page, data={"csrf_token": form_token(page)})
    assert unticked.status_code == 400 and "Tick the box" in unticked.get_data(as_text=True)
    db.session.refresh(sub)
    assert not sub.cancel_at_period_end
    assert client.post(page, data={"csrf_token": form_token(page),
                                   "understood": "y"}).status_code == 302
    db.session.refresh(sub)
    assert sub.cancel_at_period_end and sub.status == SubscriptionStatus.ACTIVE
    # Someone else's subscription is not found from this account.
    other = subscription_of(db, buy("M365-BUSINESS-STD-1Y", seats=1, email="zoe@example.com"))
    assert client.get(f"/p/reseau/account/subscriptions/{other.number}").status_code == 404


@pytest.mark.postgres
def test_two_renewal_jobs_at_once_charge_a_term_once(db, buy, reseller, app, postgres_only):
    sub = _running(db, buy, seats=2)
    end = sub.current_period_end
    errors: list[BaseException] = []

    def job() -> None:
        with app.app_context():
            try:
                renew_due(end + timedelta(hours=1))
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

    threads = [threading.Thread(target=job) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    db.session.expire_all()
    assert db.session.scalar(select(func.count(SubscriptionCharge.id))) == 1
    assert sub.current_period_end > end
    assert [e.rule for e in ledger_of(db, reseller)].count("subscription.renewal") == 1
