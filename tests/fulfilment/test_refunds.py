"""Money moves exactly once: refunds from the back office, from Stripe's dashboard, disputes.

Orders here are paid through Stripe (localstripe over HTTP, with its idempotency keys), delivered
by the simulators, then refunded whole or per line; every refund revokes the licences of its
lines and cancels them, once, however often the events repeat.
"""

from __future__ import annotations

import re
import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from support.stripe_signing import make_event, signed_delivery

from commerce.models import (
    FulfilmentStatus,
    Order,
    PaymentStatus,
    Refund,
    RefundOrigin,
    RefundStatus,
    StatusChange,
)
from commerce.orders import BuyerDetails, LineRequest, place_order
from extensions import utcnow
from fulfilment.delivery import line_deliveries
from fulfilment.models import FulfilmentLine, LineStatus
from licensing.services import verify_licence_token
from payments import refunds
from payments.services import confirm_payment, gateway_for, start_payment

WEBHOOK_SECRET = "whsec_refund_tests_" + "1" * 24


@pytest.fixture
def stripe(wired, localstripe):
    wired.config.update(PAYMENT_GATEWAY="stripe", STRIPE_SECRET_KEY=localstripe.secret_key,
                        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET, STRIPE_API_BASE=localstripe.url)
    return localstripe


@pytest.fixture
def stripe_order(stripe, db, catalogue, inbox):
    """An order paid through Stripe and delivered by the wholesaler, with its licences."""

    def make(lines=(("OFFICE-HOME-2024-WIN", 1),), email="refund@example.com") -> Order:
        order = place_order(catalogue["arvato_shop"], [LineRequest(c, q) for c, q in lines],
                            BuyerDetails(email, "Camille Martin"), gateway="stripe")
        db.session.commit()
        start_payment(order, "https://shop.example/ok?session_id={CHECKOUT_SESSION_ID}",
                      "https://shop.example/cancel")
        stripe.set_session_state(order.gateway_reference, "paid")
        event = gateway_for("stripe").fetch_outcome(order.gateway_reference)
        confirm_payment(event, "stripe")
        order = db.session.get(Order, order.id, populate_existing=True)
        assert order.payment_status == PaymentStatus.PAID and order.payment_reference
        assert order.fulfilment_status == FulfilmentStatus.DELIVERED
        return order

    return make


def _tokens(order: Order) -> dict[str, list[str]]:
    """The signed licences of each line, by product code."""
    return {fl.order_line.product_code: [u.licence_token for u in units]
            for fl, units in line_deliveries(order).values()}


def _status(token: str) -> str:
    return str(verify_licence_token(token).status)


def _post(client, event):
    payload, headers = signed_delivery(event, secret=WEBHOOK_SECRET)
    return client.post("/webhooks/stripe", data=payload, headers=headers)


def test_a_whole_refund_goes_to_stripe_with_an_idempotency_key_and_revokes_the_licences(
    stripe_order, stripe, db
):
    order = stripe_order()
    tokens = _tokens(order)["OFFICE-HOME-2024-WIN"]
    refund = refunds.refund_order(order.id, None, "operator:support@comptoir.example",
                                  "changed their mind")
    assert refund.status == RefundStatus.SUCCEEDED and refund.gateway_reference.startswith("re_")
    assert refund.idempotency_key == f"comptoir-refund-{order.id}-1-{order.total_cents}"
    [at_stripe] = stripe.refunds()
    assert (at_stripe["id"], at_stripe["amount"]) == (refund.gateway_reference, order.total_cents)
    db.session.refresh(order)
    assert order.payment_status == PaymentStatus.REFUNDED
    assert order.fulfilment_status == FulfilmentStatus.CANCELLED
    assert all(_status(t) == "revoked" for t in tokens)
    moves = [(h.from_status, h.to_status) for h in order.history if h.field == "payment"]
    assert moves[-2:] == [("paid", "refund_pending"), ("refund_pending", "refunded")]


def test_a_refund_per_line_gives_back_that_line_only(stripe_order, stripe, db):
    order = stripe_order(lines=(("OFFICE-HOME-2024-WIN", 1), ("M365-FAMILY-1Y", 1)))
    tokens = _tokens(order)
    m365 = next(line for line in order.lines if line.product_code == "M365-FAMILY-1Y")
    first = refunds.refund_order(order.id, [m365.id], "operator:support", "wrong edition")
    assert first.amount_cents == m365.total_cents
    db.session.refresh(order)
    assert order.payment_status == PaymentStatus.PARTIALLY_REFUNDED
    assert order.fulfilment_status == FulfilmentStatus.DELIVERED  # what is left is delivered
    assert [_status(t) for t in tokens["M365-FAMILY-1Y"]] == ["revoked"]
    assert [_status(t) for t in tokens["OFFICE-HOME-2024-WIN"]] == ["valid"]
    with pytest.raises(refunds.RefundError, match="refunded already"):
        refunds.refund_order(order.id, [m365.id], "operator:support", "again")
    second = refunds.refund_order(order.id, None, "operator:support", "the rest")
    assert second.amount_cents == order.total_cents - m365.total_cents
    assert second.idempotency_key != first.idempotency_key
    db.session.refresh(order)
    assert order.payment_status == PaymentStatus.REFUNDED
    assert sorted(r["amount"] for r in stripe.refunds()) == sorted(
        [first.amount_cents, second.amount_cents])


def test_five_concurrent_clicks_give_one_refund(
    postgres_only, wired, stripe_order, stripe, db, sign_in_operator
):
    order = stripe_order()
    clients = [wired.test_client() for _ in range(5)]
    tokens = []
    for client in clients:
        sign_in_operator(client)
        page = client.get(f"/admin/orders/{order.id}").get_data(as_text=True)
        tokens.append(re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1))
    barrier, codes = threading.Barrier(5), []

    def click(client, token) -> None:
        barrier.wait()
        codes.append(client.post(f"/admin/orders/{order.id}/refund",
                                 data={"csrf_token": token, "reason": "five clicks"}).status_code)

    threads = [threading.Thread(target=click, args=pair) for pair in zip(clients, tokens,
                                                                          strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert codes == [302] * 5
    assert len(stripe.refunds()) == 1
    assert db.session.scalar(select(func.count()).select_from(Refund)) == 1
    moves = db.session.scalars(select(StatusChange).where(
        StatusChange.order_id == order.id, StatusChange.field == "payment",
        StatusChange.to_status.in_(("refund_pending", "refunded")))).all()
    assert sorted(m.to_status for m in moves) == ["refund_pending", "refunded"]


def test_a_refund_whose_answer_was_lost_is_asked_again_and_stripe_gives_the_same_one(
    stripe_order, stripe, db
):
    order = stripe_order()
    refund = refunds.request_refund(order.id, None, "operator:support", "lost answer")
    # The first call reached Stripe (the very call submit makes), then the worker died before
    # recording the answer.
    lost = gateway_for("stripe").refund(
        order.gateway_reference, refund.amount_cents, idempotency_key=refund.idempotency_key,
        payment_reference=order.payment_reference,
        metadata={"comptoir_refund": str(refund.id), "order_number": order.number})
    db.session.execute(update(Refund).values(created_at=utcnow() - timedelta(minutes=5)))
    db.session.commit()
    assert refunds.retry_due() >= 1
    db.session.refresh(refund)
    assert refund.status == RefundStatus.SUCCEEDED and refund.gateway_reference == lost.reference
    assert len(stripe.refunds()) == 1


def test_stripe_unreachable_keeps_the_refund_pending_until_the_sweep(stripe_order, stripe, db,
                                                                     wired):
    order = stripe_order()
    wired.config["STRIPE_API_BASE"] = "http://127.0.0.1:9"
    with pytest.raises(refunds.RefundDelayed):
        refunds.refund_order(order.id, None, "operator:support", "network down")
    db.session.refresh(order)
    assert order.payment_status == PaymentStatus.REFUND_PENDING
    with pytest.raises(refunds.RefundError, match="already in progress"):
        refunds.refund_order(order.id, None, "operator:support", "again")
    wired.config["STRIPE_API_BASE"] = stripe.url
    db.session.execute(update(Refund).values(created_at=utcnow() - timedelta(minutes=5)))
    db.session.commit()
    refunds.retry_due()
    db.session.refresh(order)
    assert order.payment_status == PaymentStatus.REFUNDED
    assert len(stripe.refunds()) == 1


def test_a_refund_stripe_refuses_changes_nothing(stripe_order, stripe, db):
    order = stripe_order()
    db.session.execute(update(Order).values(payment_reference="pi_unknown_at_stripe"))
    db.session.commit()
    with pytest.raises(refunds.RefundError, match="refused"):
        refunds.refund_order(order.id, None, "operator:support", "refused")
    db.session.refresh(order)
    assert order.payment_status == PaymentStatus.PAID
    assert order.fulfilment_status == FulfilmentStatus.DELIVERED
    [refused] = db.session.scalars(select(Refund)).all()
    assert refused.status == RefundStatus.FAILED and refused.lines == []


def test_a_refund_made_in_stripes_dashboard_revokes_once_however_often_stripe_says_so(
    client, stripe_order, stripe, db
):
    order = stripe_order()
    tokens = _tokens(order)["OFFICE-HOME-2024-WIN"]
    made = stripe.refund(order.payment_reference, order.total_cents)
    charge = {"id": "ch_dashboard", "object": "charge", "payment_intent": order.payment_reference,
              "amount": order.total_cents, "amount_refunded": order.total_cents, "refunded": True}
    refund_object = {**made, "object": "refund", "status": "succeeded"}
    event = make_event("charge.refunded", charge)
    for delivery in (event, event, make_event("refund.updated", refund_object),
                     make_event("charge.refund.updated", refund_object)):
        assert _post(client, delivery).status_code == 200
    [recorded] = db.session.scalars(select(Refund)).all()
    assert (recorded.origin, recorded.gateway_reference) == (RefundOrigin.GATEWAY, made["id"])
    assert recorded.effects_applied_at is not None
    db.session.refresh(order)
    assert order.payment_status == PaymentStatus.REFUNDED
    assert order.fulfilment_status == FulfilmentStatus.CANCELLED
    assert all(_status(t) == "revoked" for t in tokens)


def test_a_dashboard_refund_of_one_lines_amount_refunds_that_line(client, stripe_order, stripe,
                                                                   db):
    order = stripe_order(lines=(("OFFICE-HOME-2024-WIN", 1), ("M365-FAMILY-1Y", 1)))
    tokens = _tokens(order)
    m365 = next(line for line in order.lines if line.product_code == "M365-FAMILY-1Y")
    made = stripe.refund(order.payment_reference, m365.total_cents)
    _post(client, make_event("refund.created", {**made, "object": "refund"}))
    db.session.refresh(order)
    assert order.payment_status == PaymentStatus.PARTIALLY_REFUNDED
    assert [_status(t) for t in tokens["M365-FAMILY-1Y"]] == ["revoked"]
    assert [_status(t) for t in tokens["OFFICE-HOME-2024-WIN"]] == ["valid"]


def test_a_dashboard_refund_matching_no_line_is_recorded_for_an_operator(client, stripe_order,
                                                                         stripe, db):
    order = stripe_order()
    tokens = _tokens(order)["OFFICE-HOME-2024-WIN"]
    made = stripe.refund(order.payment_reference, 500)  # a goodwill gesture, not a line
    _post(client, make_event("refund.created", {**made, "object": "refund"}))
    [recorded] = db.session.scalars(select(Refund)).all()
    assert recorded.lines == [] and "by hand" in recorded.last_error
    db.session.refresh(order)
    assert order.payment_status == PaymentStatus.PARTIALLY_REFUNDED
    assert all(_status(t) == "valid" for t in tokens)


def test_our_own_refund_reported_by_stripe_before_we_recorded_it_completes_once(
    client, stripe_order, stripe, db
):
    order = stripe_order()
    refund = refunds.request_refund(order.id, None, "operator:support", "webhook first")
    answer = gateway_for("stripe").refund(
        order.gateway_reference, refund.amount_cents, idempotency_key=refund.idempotency_key,
        payment_reference=order.payment_reference,
        metadata={"comptoir_refund": str(refund.id), "order_number": order.number})
    webhook = {"id": answer.reference, "object": "refund", "amount": answer.amount_cents,
               "currency": "eur", "status": "succeeded",
               "payment_intent": order.payment_reference,
               "metadata": {"comptoir_refund": str(refund.id)}}
    assert _post(client, make_event("refund.created", webhook)).status_code == 200
    refunds.submit(refund.id)  # the worker comes back: nothing more happens
    assert db.session.scalar(select(func.count()).select_from(Refund)) == 1
    assert len(stripe.refunds()) == 1
    db.session.refresh(order)
    assert order.payment_status == PaymentStatus.REFUNDED


def _dispute(order: Order, status: str) -> dict:
    return {"id": "dp_" + uuid.uuid4().hex[:12], "object": "dispute", "amount": order.total_cents,
            "currency": "eur", "charge": "ch_x", "payment_intent": order.payment_reference,
            "status": status, "reason": "fraudulent"}


def test_a_lost_dispute_takes_the_licences_back_once(client, stripe_order, db):
    order = stripe_order()
    tokens = _tokens(order)["OFFICE-HOME-2024-WIN"]
    opened = _dispute(order, "needs_response")
    _post(client, make_event("charge.dispute.created", opened))
    db.session.refresh(order)
    assert order.payment_status == PaymentStatus.DISPUTED
    assert all(_status(t) == "valid" for t in tokens)  # nothing is decided yet
    closed = make_event("charge.dispute.closed", {**opened, "status": "lost"})
    _post(client, closed)
    _post(client, closed)
    db.session.refresh(order)
    assert order.payment_status == PaymentStatus.REFUNDED
    assert all(_status(t) == "revoked" for t in tokens)
    [recorded] = db.session.scalars(select(Refund)).all()
    assert recorded.origin == RefundOrigin.DISPUTE and recorded.gateway_reference == opened["id"]


def test_a_won_dispute_puts_the_order_back_as_paid(client, stripe_order, db):
    order = stripe_order()
    opened = _dispute(order, "needs_response")
    _post(client, make_event("charge.dispute.created", opened))
    _post(client, make_event("charge.dispute.closed", {**opened, "status": "won"}))
    db.session.refresh(order)
    assert order.payment_status == PaymentStatus.PAID
    assert db.session.scalar(select(Refund)) is None


def test_a_malformed_refund_event_is_refused_and_changes_nothing(client, stripe_order, db):
    order = stripe_order()
    bad = {"id": "re_bad", "object": "refund", "amount": "lots", "currency": "eur",
           "payment_intent": order.payment_reference, "status": "succeeded"}
    assert _post(client, make_event("refund.created", bad)).status_code == 400
    db.session.refresh(order)
    assert order.payment_status == PaymentStatus.PAID


def test_a_back_office_refund_by_an_operator_with_a_long_address_is_recorded(
    wired, client, stripe_order, stripe, db, sign_in_operator
):
    """PostgreSQL refuses what SQLite keeps: the operator's name goes into several columns."""
    long_address = "support." + "x" * 220 + "@comptoir.example"
    sign_in_operator(client, email=long_address)
    order = stripe_order()
    page = client.get(f"/admin/orders/{order.id}").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    response = client.post(f"/admin/orders/{order.id}/refund",
                           data={"csrf_token": token, "reason": "buyer withdrew"})
    assert response.status_code == 302
    db.session.refresh(order)
    assert order.payment_status == PaymentStatus.REFUNDED
    [refund] = db.session.scalars(select(Refund)).all()
    assert refund.actor == f"operator:{long_address}"
    lines = db.session.scalars(select(FulfilmentLine)).all()
    assert all(line.status == LineStatus.CANCELLED for line in lines)
    assert any(a.actor == f"operator:{long_address}" for line in lines
               for a in line.attempts_log)


def test_refunds_from_the_command_line(wired, stripe_order, stripe, db):
    order = stripe_order()
    runner = wired.test_cli_runner()
    bad = runner.invoke(args=["refunds", "order", "not-a-uuid", "--reason", "x", "--actor", "a"])
    assert bad.exit_code != 0
    result = runner.invoke(args=["refunds", "order", str(order.id), "--reason", "asked by phone",
                                 "--actor", "operator:cli@comptoir.example"])
    assert result.exit_code == 0, result.output
    assert "succeeded" in result.output
    assert runner.invoke(args=["refunds", "retry"]).exit_code == 0
    db.session.refresh(order)
    assert order.payment_status == PaymentStatus.REFUNDED
    assert len(stripe.refunds()) == 1


def test_a_refund_tells_the_partners_webhooks_once(stripe_order, stripe, db, catalogue):
    import json

    from support.receiver import receiving

    from webhooks import services as webhooks
    from webhooks.models import WebhookDelivery

    with receiving() as receiver:
        webhooks.create_endpoint(catalogue["arvato_shop"], receiver.url, actor="test",
                                 events=["order.refunded", "licence.revoked"])
        db.session.commit()
        order = stripe_order()
        refunds.refund_order(order.id, None, "operator:support", "changed their mind")
        received = receiver.wait_for(2)
        bodies = [json.loads(r.body) for r in received]
        assert sorted(b["type"] for b in bodies) == ["licence.revoked", "order.refunded"]
        refunded = next(b for b in bodies if b["type"] == "order.refunded")
        assert refunded["data"]["reason"].endswith("changed their mind")
        assert refunded["data"]["order"]["number"] == order.number
        revoked = next(b for b in bodies if b["type"] == "licence.revoked")
        assert revoked["data"]["licence"]["id"]
        # the refund's events relayed again owe the partner nothing more
        from events import relay

        relay.sweep()
        assert db.session.scalar(select(func.count()).select_from(WebhookDelivery)) == 2
