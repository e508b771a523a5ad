"""Paying a credit line's balance: by card through the gateway, by transfer; each applied once."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import func, select
from support.stripe_signing import make_event, signed_delivery
from test_credit_orders import command

from commerce.models import Order
from credit.accounts import set_line, standing
from credit.errors import CreditError
from credit.models import CreditEntry, CreditPayment, PaymentState
from credit.orders import buy_on_account
from credit.payments import record_transfer, start_card_payment
from extensions import utcnow
from payments import refunds

WEBHOOK_SECRET = "whsec_credit_tests_" + "2" * 24


@pytest.fixture
def owing(db, world):  # type: ignore[no-untyped-def]
    """Reseller A owes 298.00 on a 1,000.00 line."""
    account = set_line(world.a, limit_cents=100000, actor="test")
    db.session.commit()
    buy_on_account(world.a, command(quantity=2), utcnow())
    return account


def payments_entries(db) -> list[int]:  # type: ignore[no-untyped-def]
    db.session.expire_all()
    return list(db.session.scalars(select(CreditEntry.amount_cents).where(
        CreditEntry.kind == "payment")))


def test_a_card_payment_through_the_test_gateway_is_applied_once(client, db, world, owing,
                                                                  sign_in, form_token):
    sign_in("reseau-n", "a@dupont.example")
    page = client.get("/p/reseau-n/reseller/credit").get_data(as_text=True)
    assert 'value="298.00"' in page  # the amount owed, offered
    response = client.post("/p/reseau-n/reseller/credit/pay", data={
        "csrf_token": form_token("/p/reseau-n/reseller/credit"), "amount": "100,00"})
    assert response.status_code == 302
    card_page = response.location
    assert "/reseller/credit/pay/test/test_" in card_page
    token = form_token(card_page)
    paid = client.post(card_page, data={"csrf_token": token, "card_number": "4242424242424242"})
    assert paid.status_code == 302
    payment = db.session.scalar(select(CreditPayment))
    assert payment.status == PaymentState.APPLIED and payment.method == "card"
    assert payments_entries(db) == [-10000]
    # The same card page posted again (a double click, a back button) applies nothing more.
    again = client.post(card_page, data={"csrf_token": token, "card_number": "4242424242424242"})
    assert again.status_code == 302
    assert payments_entries(db) == [-10000]
    assert standing(owing, utcnow()).outstanding_cents == 19800
    assert "Your payment of €100.00 is applied" in client.get(
        "/p/reseau-n/reseller/credit").get_data(as_text=True)


def test_a_declined_card_applies_nothing(client, db, world, owing, sign_in, form_token):
    sign_in("reseau-n", "a@dupont.example")
    card_page = client.post("/p/reseau-n/reseller/credit/pay", data={
        "csrf_token": form_token("/p/reseau-n/reseller/credit"), "amount": "298"}).location
    client.post(card_page, data={"csrf_token": form_token(card_page),
                                 "card_number": "4000000000000002"})
    assert db.session.scalar(select(CreditPayment.status)) == PaymentState.FAILED
    assert payments_entries(db) == []


def test_paying_more_than_is_owed_is_refused(client, db, world, owing, sign_in, form_token):
    sign_in("reseau-n", "a@dupont.example")
    response = client.post("/p/reseau-n/reseller/credit/pay", data={
        "csrf_token": form_token("/p/reseau-n/reseller/credit"), "amount": "298.01"})
    assert response.status_code == 400
    assert "Pay an amount from €0.01 to €298.00." in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(CreditPayment)) == 0


def test_a_stripe_payment_is_applied_once_however_often_its_event_comes(
    app, client, db, world, owing, localstripe
):
    app.config.update(PAYMENT_GATEWAY="stripe", STRIPE_SECRET_KEY=localstripe.secret_key,
                      STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET, STRIPE_API_BASE=localstripe.url)
    with app.test_request_context("/p/reseau-n/reseller/credit"):
        redirect = start_card_payment(owing, 29800, success_url="https://shop.example/ok",
                                      cancel_url="https://shop.example/no", locale="fr",
                                      now=utcnow())
    session = localstripe.session(redirect.reference)
    assert session["metadata"]["purpose"] == "credit"
    payment = db.session.scalar(select(CreditPayment))
    assert session["metadata"]["credit_payment_id"] == str(payment.id)
    event = make_event("checkout.session.completed", {
        **session, "object": "checkout.session", "payment_status": "paid",
        "amount_total": 29800, "currency": "eur"})
    for _ in range(3):
        body, headers = signed_delivery(event, WEBHOOK_SECRET)
        answer = client.post("/webhooks/stripe", data=body, headers=headers)
        assert answer.status_code == 200
    assert answer.get_json()["result"] == "already_processed"
    assert payments_entries(db) == [-29800]
    assert standing(owing, utcnow()).outstanding_cents == 0
    # A second event id for the same payment (the return page's) finds it applied.
    other = make_event("checkout.session.completed", event["data"]["object"])
    body, headers = signed_delivery(other, WEBHOOK_SECRET)
    assert client.post("/webhooks/stripe", data=body, headers=headers).get_json()["result"] \
        == "already_processed"
    assert payments_entries(db) == [-29800]


def test_a_transfer_is_applied_once_per_bank_reference(runner, db, world, owing):
    reference = owing.reference
    first = runner.invoke(args=["credit", "record-transfer", "--reference", reference.lower(),
                                "--bank-reference", "VIR-2026-1201-77", "--amount", "298.00",
                                "--received-on", "2026-12-01"])
    assert first.exit_code == 0, first.output
    assert "recorded" in first.output and "already" not in first.output
    again = runner.invoke(args=["credit", "record-transfer", "--reference", reference,
                                "--bank-reference", "VIR-2026-1201-77", "--amount", "298.00"])
    assert again.exit_code == 0 and "already recorded" in again.output
    assert payments_entries(db) == [-29800]
    clash = runner.invoke(args=["credit", "record-transfer", "--reference", reference,
                                "--bank-reference", "VIR-2026-1201-77", "--amount", "10"])
    assert clash.exit_code != 0 and "already recorded" in clash.output
    bad = runner.invoke(args=["credit", "record-transfer", "--reference", "RF00NOPE",
                              "--bank-reference", "VIR-X", "--amount", "10"])
    assert bad.exit_code != 0 and "not a valid structured reference" in bad.output
    assert payments_entries(db) == [-29800]


def test_a_transfer_for_an_unknown_reference_changes_nothing(db, world, owing):
    with pytest.raises(CreditError, match="No credit line has the reference"):
        record_transfer("RF18539007547034", "VIR-1", 1000, date(2026, 12, 1), "test", utcnow())
    assert payments_entries(db) == []


def test_a_refund_of_an_order_on_account_credits_the_account(db, world, owing):
    order = db.session.scalar(select(Order))
    refund = refunds.refund_order(order.id, None, "operator:test", "client changed their mind")
    assert refund.status == "succeeded" and refund.gateway_reference.startswith("account-credit:")
    db.session.expire_all()
    credited = db.session.scalars(select(CreditEntry).where(CreditEntry.kind == "refund")).all()
    assert [(e.amount_cents, e.refund_id) for e in credited] == [(-29800, refund.id)]
    assert standing(owing, utcnow()).outstanding_cents == 0
    # The sweep finds nothing left to do and credits nothing twice.
    refunds.retry_due()
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(CreditEntry).where(
        CreditEntry.kind == "refund")) == 1


def test_the_portal_shows_the_iban_and_the_structured_reference(client, world, owing, sign_in):
    sign_in("reseau-n", "a@dupont.example")
    page = client.get("/p/reseau-n/reseller/credit").get_data(as_text=True)
    assert "FR7630006000011234567890189" in page
    shown = re.search(r'data-figure="reference"><code>([^<]+)</code>', page).group(1)
    assert shown.replace(" ", "") == owing.reference and owing.reference.startswith("RF")
