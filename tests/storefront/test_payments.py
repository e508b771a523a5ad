"""Paying: the test gateway, confirm_payment's exactly-once, the Stripe webhook endpoint."""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest
from sqlalchemy import func, select

from commerce.models import FulfilmentStatus, Order, PaymentStatus, ProcessedEvent, StatusChange
from payments.base import PaymentEvent, PaymentOutcome
from payments.services import ConfirmResult, confirm_payment

WEBHOOK_SECRET = "whsec_test_comptoir"


@pytest.fixture
def pending_order(client, shops, add_to_cart, checkout, db) -> Order:
    add_to_cart("shop-a", "OFFICE-HOME-2024-WIN")
    response = checkout("shop-a")
    order = db.session.scalar(select(Order))
    order.card_page = response.location  # type: ignore[attr-defined]
    return order


def _event(
    order: Order, event_id: str = "evt_1", outcome=PaymentOutcome.PAID, amount=None, currency="EUR"
):
    return PaymentEvent(
        event_id=event_id,
        event_type="checkout.session.completed",
        outcome=outcome,
        order_id=order.id,
        reference=order.gateway_reference,
        amount_cents=order.total_cents if amount is None else amount,
        currency=currency,
    )


def test_test_card_pays_the_order_and_it_waits_visibly_for_fulfilment(
    client, pending_order, pay_with_test_card, db, handed_over
):
    response = pay_with_test_card(pending_order.card_page)
    assert response.status_code == 302
    page = client.get(response.location)
    assert page.status_code == 200
    db.session.refresh(pending_order)
    assert pending_order.payment_status == PaymentStatus.PAID
    assert pending_order.fulfilment_status == FulfilmentStatus.AWAITING
    assert pending_order.paid_at is not None
    history = [(h.field, h.from_status, h.to_status) for h in pending_order.history]
    assert history == [
        ("payment", "pending_payment", "paid"),
        ("fulfilment", "unfulfilled", "awaiting_fulfilment"),
    ]
    order_page = client.get(f"/p/shop-a/orders/{pending_order.id}?lang=en").get_data(as_text=True)
    assert "Awaiting fulfilment" in order_page
    assert handed_over == [pending_order.id]


def test_declined_test_card_leaves_the_order_unpaid_with_the_error_beside_the_field(
    pending_order, pay_with_test_card, db
):
    response = pay_with_test_card(pending_order.card_page, "4000 0000 0000 0002")
    assert response.status_code == 402
    assert 'id="card_number-error"' in response.get_data(as_text=True)
    db.session.refresh(pending_order)
    assert pending_order.payment_status == PaymentStatus.FAILED
    again = pay_with_test_card(pending_order.card_page)
    assert again.status_code == 302
    db.session.refresh(pending_order)
    assert pending_order.payment_status == PaymentStatus.PAID


def test_the_same_event_is_processed_once(pending_order, db, handed_over):
    assert confirm_payment(_event(pending_order), "stripe") == ConfirmResult.PAID
    assert confirm_payment(_event(pending_order), "stripe") == ConfirmResult.ALREADY_PROCESSED
    assert handed_over == [pending_order.id]
    assert db.session.scalar(select(func.count()).select_from(ProcessedEvent)) == 1


def test_two_events_for_one_order_pay_it_once(pending_order, db):
    assert confirm_payment(_event(pending_order, "evt_webhook"), "stripe") == ConfirmResult.PAID
    assert (
        confirm_payment(_event(pending_order, "return:page"), "stripe")
        == ConfirmResult.ALREADY_PROCESSED
    )
    paid_changes = db.session.scalar(
        select(func.count()).select_from(StatusChange).where(StatusChange.to_status == "paid")
    )
    assert paid_changes == 1


def test_an_amount_mismatch_flags_the_order_and_never_marks_it_paid(pending_order, db):
    assert confirm_payment(_event(pending_order, amount=100), "stripe") == ConfirmResult.FLAGGED
    db.session.refresh(pending_order)
    assert pending_order.payment_status == PaymentStatus.FLAGGED
    assert pending_order.fulfilment_status == FulfilmentStatus.UNFULFILLED
    assert "100 EUR" in pending_order.flag_reason
    assert (
        confirm_payment(_event(pending_order, "evt_2"), "stripe") == ConfirmResult.ALREADY_PROCESSED
    )
    db.session.refresh(pending_order)
    assert pending_order.payment_status == PaymentStatus.FLAGGED


def test_a_currency_mismatch_flags_the_order(pending_order, db):
    assert confirm_payment(_event(pending_order, currency="USD"), "stripe") == ConfirmResult.FLAGGED


def test_an_event_for_an_unknown_order_changes_nothing(pending_order, db):
    event = PaymentEvent(
        "evt_x", "checkout.session.completed", PaymentOutcome.PAID, uuid.uuid4(), "cs_x", 1, "EUR"
    )
    assert confirm_payment(event, "stripe") == ConfirmResult.UNKNOWN_ORDER
    assert db.session.scalar(select(func.count()).select_from(ProcessedEvent)) == 0


def test_expired_and_failed_events_move_the_payment_status(pending_order, db):
    assert (
        confirm_payment(_event(pending_order, "e1", PaymentOutcome.FAILED), "stripe")
        == ConfirmResult.FAILED
    )
    assert (
        confirm_payment(_event(pending_order, "e2", PaymentOutcome.EXPIRED), "stripe")
        == ConfirmResult.EXPIRED
    )
    db.session.refresh(pending_order)
    assert pending_order.payment_status == PaymentStatus.EXPIRED
    assert confirm_payment(_event(pending_order, "e3"), "stripe") == ConfirmResult.ALREADY_PROCESSED


def test_webhook_and_return_page_racing_pay_exactly_once(
    app, pending_order, db, postgres_only, handed_over
):
    """Many threads confirm the same order at once with different event ids: one wins."""
    order_id, total, reference = (
        pending_order.id,
        pending_order.total_cents,
        pending_order.gateway_reference,
    )
    results: list[ConfirmResult] = []
    barrier = threading.Barrier(8)

    def confirm(n: int) -> None:
        with app.app_context():
            event = PaymentEvent(
                f"evt_{n}",
                "checkout.session.completed",
                PaymentOutcome.PAID,
                order_id,
                reference,
                total,
                "EUR",
            )
            barrier.wait()
            results.append(confirm_payment(event, "stripe"))
            from extensions import db as _db

            _db.session.remove()

    threads = [threading.Thread(target=confirm, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results).count(ConfirmResult.PAID) == 1
    assert results.count(ConfirmResult.ALREADY_PROCESSED) == 7
    assert handed_over == [order_id]
    db.session.expire_all()
    changes = db.session.scalars(
        select(StatusChange).where(StatusChange.order_id == order_id)
    ).all()
    assert sorted((c.field, c.to_status) for c in changes) == [
        ("fulfilment", "awaiting_fulfilment"),
        ("payment", "paid"),
    ]


def _signed(
    payload: dict, secret: str = WEBHOOK_SECRET, timestamp: int | None = None
) -> tuple[bytes, dict]:
    from support.stripe_signing import signature_header as sign_payload

    body = json.dumps(payload).encode()
    return body, {
        "Stripe-Signature": sign_payload(body, secret, timestamp),
        "Content-Type": "application/json",
    }


def _session_event(
    order: Order, event_type="checkout.session.completed", event_id="evt_hook_1", amount=None
):
    return {
        "id": event_id,
        "object": "event",
        "type": event_type,
        "created": int(time.time()),
        "data": {
            "object": {
                "id": order.gateway_reference or "cs_test_1",
                "object": "checkout.session",
                "payment_status": "paid",
                "status": "complete",
                "amount_total": order.total_cents if amount is None else amount,
                "currency": "eur",
                "client_reference_id": str(order.id),
                "metadata": {"order_id": str(order.id), "order_number": order.number},
            }
        },
    }


@pytest.fixture
def stripe_app(app):
    app.config.update(STRIPE_SECRET_KEY="sk_test_comptoir", STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET)
    return app


def test_signed_webhook_pays_the_order(stripe_app, client, pending_order, db):
    body, headers = _signed(_session_event(pending_order))
    response = client.post("/webhooks/stripe", data=body, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    db.session.refresh(pending_order)
    assert pending_order.payment_status == PaymentStatus.PAID


def test_the_same_webhook_five_times_pays_once(stripe_app, client, pending_order, db):
    body, headers = _signed(_session_event(pending_order))
    results = [
        client.post("/webhooks/stripe", data=body, headers=headers).get_json()["result"]
        for _ in range(5)
    ]
    assert results == ["paid"] + ["already_processed"] * 4


def test_unknown_event_types_get_200_and_change_nothing(stripe_app, client, pending_order, db):
    body, headers = _signed(
        {
            "id": "evt_other",
            "object": "event",
            "type": "customer.created",
            "created": int(time.time()),
            "data": {"object": {"id": "cus_1"}},
        }
    )
    response = client.post("/webhooks/stripe", data=body, headers=headers)
    assert response.status_code == 200
    db.session.refresh(pending_order)
    assert pending_order.payment_status == PaymentStatus.PENDING


@pytest.mark.parametrize("case", ["bad_signature", "stale", "future", "missing", "not_json"])
def test_untrustworthy_webhooks_are_refused_and_change_nothing(
    stripe_app, client, pending_order, db, case
):
    body, headers = _signed(_session_event(pending_order))
    if case == "bad_signature":
        body, headers = _signed(_session_event(pending_order), secret="whsec_wrong")
    elif case == "stale":
        body, headers = _signed(_session_event(pending_order), timestamp=int(time.time()) - 3600)
    elif case == "future":
        body, headers = _signed(_session_event(pending_order), timestamp=int(time.time()) + 3600)
    elif case == "missing":
        headers = {"Content-Type": "application/json"}
    elif case == "not_json":
        body = b"{not json"
        from support.stripe_signing import signature_header as sign_payload

        headers = {"Stripe-Signature": sign_payload(body, WEBHOOK_SECRET)}
    response = client.post("/webhooks/stripe", data=body, headers=headers)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_webhook"
    db.session.refresh(pending_order)
    assert pending_order.payment_status == PaymentStatus.PENDING
    assert db.session.scalar(select(func.count()).select_from(ProcessedEvent)) == 0


def test_oversized_webhook_body_is_refused(stripe_app, client, pending_order):
    response = client.post(
        "/webhooks/stripe", data=b"x" * (300 * 1024), headers={"Stripe-Signature": "t=1,v1=00"}
    )
    assert response.status_code == 413


def test_webhook_endpoint_does_not_exist_without_stripe_settings(client, pending_order):
    assert client.post("/webhooks/stripe", data=b"{}").status_code == 404


def test_test_gateway_is_refused_in_production():
    from payments.test_gateway import TestGateway

    with pytest.raises(RuntimeError, match="production"):
        TestGateway(environment="production")
