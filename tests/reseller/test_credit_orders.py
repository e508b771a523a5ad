"""Buying on account: paid like a card order, refused with a clear message, never over the limit."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from support.processes import PATIENCE, join_all

from commerce.models import Order, PaymentStatus, ProcessedEvent
from commerce.orders import BuyerDetails, LineRequest
from commissions import attribution_for
from credit.accounts import set_line, standing
from credit.errors import CreditRefused
from credit.models import CreditEntry
from credit.orders import AccountOrder, buy_on_account
from credit.payments import record_transfer
from events.models import OutboxEvent
from extensions import utcnow
from legal.terms import in_force

OFFICE = "OFFICE-HOME-2024-WIN"  # 149.00 including VAT


def command(code: str = OFFICE, quantity: int = 1, email: str = "client@example.com"
            ) -> AccountOrder:
    return AccountOrder(lines=[LineRequest(code, quantity)],
                        buyer=BuyerDetails(email=email, name="Client Durand"),
                        terms_version=in_force().version, consent_at=datetime.now(UTC),
                        consent_version="2026-11-v1")


def count(db, model) -> int:  # type: ignore[no-untyped-def]
    db.session.expire_all()
    return int(db.session.scalar(select(func.count()).select_from(model)))


@pytest.fixture
def line(db, world):  # type: ignore[no-untyped-def]
    """Reseller A of network N with a 500.00 EUR line, 30 days end of month."""
    account = set_line(world.a, limit_cents=50000, term_days=30, actor="test")
    db.session.commit()
    return account


def test_an_order_on_account_is_paid_like_a_card_order_and_charged_once(db, world, line):
    booked = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
    order = buy_on_account(world.a, command(), booked)
    db.session.expire_all()
    order = db.session.get(Order, order.id)
    assert order.payment_status == PaymentStatus.PAID and order.gateway == "account"
    assert attribution_for(order.id).reseller_id == world.a.id
    assert attribution_for(order.id).rule == "assisted"
    # The same confirmation as a card's: one processed event, one OrderPaid for fulfilment.
    assert db.session.get(ProcessedEvent, f"account:charge:{order.id}") is not None
    paid = db.session.scalars(select(OutboxEvent).where(OutboxEvent.kind == "OrderPaid")).all()
    assert [e.payload["order_id"] for e in paid] == [str(order.id)]
    charge = db.session.scalar(select(CreditEntry).where(CreditEntry.order_id == order.id))
    assert charge.amount_cents == order.total_cents == 14900
    assert charge.due_on.isoformat() == "2026-12-30"  # 30 November + 30 days
    now = standing(line, booked + timedelta(minutes=1))
    assert (now.outstanding_cents, now.available_cents) == (14900, 50000 - 14900)


def test_an_order_over_the_available_credit_is_refused_and_nothing_is_written(
    db, world, line
):
    buy_on_account(world.a, command(quantity=3), utcnow())  # 447.00 of 500.00
    with pytest.raises(CreditRefused) as refused:
        buy_on_account(world.a, command(), utcnow())
    assert refused.value.code == "over_limit"
    assert "more than your available credit of €53.00" in refused.value.message \
        or "53,00" in refused.value.message
    assert count(db, Order) == 1 and count(db, CreditEntry) == 1


def test_a_reseller_without_a_credit_line_is_refused(db, world):
    with pytest.raises(CreditRefused) as refused:
        buy_on_account(world.b, command(), utcnow())
    assert refused.value.code == "no_credit_line"
    assert count(db, Order) == 0


def test_an_overdue_balance_blocks_orders_until_it_is_paid(db, world, line):
    buy_on_account(world.a, command(), datetime(2026, 11, 10, 9, 0, tzinfo=UTC))
    # Due on 30 December (Paris): still fine that day, blocked from the 31st.
    buy_on_account(world.a, command(), datetime(2026, 12, 30, 20, 0, tzinfo=UTC))
    late = datetime(2026, 12, 31, 9, 0, tzinfo=UTC)
    with pytest.raises(CreditRefused) as refused:
        buy_on_account(world.a, command(), late)
    assert refused.value.code == "overdue"
    assert "2026-12-30" in refused.value.message and "unpaid" in refused.value.message
    assert count(db, Order) == 2
    record_transfer(line.reference, "BANK-0001", 14900, late.date(), "test", late)
    assert standing(line, late).overdue_cents == 0
    buy_on_account(world.a, command(), late + timedelta(minutes=1))
    assert count(db, Order) == 3


def test_the_portal_places_an_order_on_account_for_a_client(client, db, world, line, sign_in,
                                                             form_token):
    sign_in("reseau-n", "a@dupont.example")
    page = client.get("/p/reseau-n/reseller/credit/order").get_data(as_text=True)
    assert "Available credit: €500.00." in page
    response = client.post("/p/reseau-n/reseller/credit/order", data={
        "csrf_token": form_token("/p/reseau-n/reseller/credit/order"),
        f"qty-{OFFICE}": "2", "email": "Jeanne@Example.com", "name": "Jeanne Martin",
        "billing_country": "FR", "terms_version": in_force().version, "agreed": "y"})
    assert response.status_code == 302, response.get_data(as_text=True)
    order = db.session.scalar(select(Order))
    assert order.email == "jeanne@example.com" and order.total_cents == 29800
    assert order.payment_status == PaymentStatus.PAID
    credit_page = client.get("/p/reseau-n/reseller/credit").get_data(as_text=True)
    assert "€202.00" in credit_page and "€298.00" in credit_page  # available, outstanding
    dashboard = client.get("/p/reseau-n/reseller/").get_data(as_text=True)
    assert 'data-figure="credit-available">€202.00' in dashboard


def test_the_portal_says_why_an_order_is_refused(client, db, world, line, sign_in, form_token):
    sign_in("reseau-n", "a@dupont.example")
    response = client.post("/p/reseau-n/reseller/credit/order", data={
        "csrf_token": form_token("/p/reseau-n/reseller/credit/order"),
        f"qty-{OFFICE}": "4", "email": "jeanne@example.com", "name": "Jeanne Martin",
        "billing_country": "FR", "terms_version": in_force().version, "agreed": "y"})
    assert response.status_code == 409
    assert "This order of €596.00 is more than your available credit of €500.00" in \
        response.get_data(as_text=True)
    assert count(db, Order) == 0 and count(db, CreditEntry) == 0


def test_the_client_must_have_accepted_the_terms(client, db, world, line, sign_in, form_token):
    sign_in("reseau-n", "a@dupont.example")
    response = client.post("/p/reseau-n/reseller/credit/order", data={
        "csrf_token": form_token("/p/reseau-n/reseller/credit/order"),
        f"qty-{OFFICE}": "1", "email": "jeanne@example.com", "name": "Jeanne Martin",
        "billing_country": "FR", "terms_version": in_force().version})
    assert response.status_code == 400
    assert "accepted the terms of sale" in response.get_data(as_text=True)
    assert count(db, Order) == 0


def test_concurrent_orders_never_exceed_the_limit_together(app, db, world, postgres_only):
    set_line(world.a, limit_cents=20000, actor="test")  # room for one 149.00 order, not two
    db.session.commit()
    reseller_id = world.a.id
    threads_count = 4
    barrier = threading.Barrier(threads_count)
    outcomes: list[str] = []
    failures: list[BaseException] = []

    def order() -> None:
        try:
            with app.app_context():
                from commissions.models import Reseller
                from extensions import db as session_db

                reseller = session_db.session.get(Reseller, reseller_id)
                barrier.wait(timeout=PATIENCE)
                try:
                    buy_on_account(reseller, command(), utcnow())
                    outcomes.append("placed")
                except CreditRefused as exc:
                    outcomes.append(exc.code)
                finally:
                    session_db.session.remove()
        except BaseException as exc:  # noqa: BLE001 - reported in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=order) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    join_all(threads)
    assert not failures, failures
    assert sorted(outcomes) == ["over_limit"] * (threads_count - 1) + ["placed"]
    assert count(db, Order) == 1 and count(db, CreditEntry) == 1

