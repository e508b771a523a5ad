"""The Stripe path through our pages, against localstripe over HTTP: redirect, return, webhook."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import select
from support.localstripe_server import LocalStripe
from support.stripe_signing import WEBHOOK_SECRET, make_event, signed_delivery

from commerce.models import Order, PaymentStatus


@pytest.fixture
def stripe_shop(app, localstripe: LocalStripe):
    app.config.update(
        PAYMENT_GATEWAY="stripe",
        STRIPE_SECRET_KEY=localstripe.secret_key,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        STRIPE_API_BASE=localstripe.url,
    )
    return app


def _checkout(client, add_to_cart, checkout):
    add_to_cart("shop-a", "OFFICE-HOME-2024-WIN", 2, backup="y")
    return checkout("shop-a")


def test_checkout_sends_the_buyer_to_a_stripe_session_with_our_amounts(
    stripe_shop, client, shops, add_to_cart, checkout, localstripe, db
):
    response = _checkout(client, add_to_cart, checkout)
    assert response.status_code == 302
    order = db.session.scalar(select(Order))
    assert order.gateway == "stripe" and order.gateway_reference.startswith("cs_")
    session = localstripe.session(order.gateway_reference)
    assert response.location == session["url"]
    assert session["amount_total"] == order.total_cents == 2 * 13900 + 2 * 990
    assert session["metadata"]["order_id"] == str(order.id)
    assert session["success_url"].endswith(
        f"/p/shop-a/checkout/return/{order.id}?session_id={{CHECKOUT_SESSION_ID}}"
    )


def test_the_return_page_confirms_a_paid_session(
    stripe_shop, client, shops, add_to_cart, checkout, localstripe, db, handed_over
):
    _checkout(client, add_to_cart, checkout)
    order = db.session.scalar(select(Order))
    localstripe.set_session_state(order.gateway_reference, "paid")
    page = client.get(f"/p/shop-a/checkout/return/{order.id}?session_id={order.gateway_reference}")
    assert page.status_code == 200
    db.session.refresh(order)
    assert order.payment_status == PaymentStatus.PAID and handed_over == [order.id]


def test_a_return_before_payment_leaves_the_order_waiting(
    stripe_shop, client, shops, add_to_cart, checkout, localstripe, db
):
    _checkout(client, add_to_cart, checkout)
    order = db.session.scalar(select(Order))
    client.get(f"/p/shop-a/checkout/return/{order.id}?session_id={order.gateway_reference}")
    db.session.refresh(order)
    assert order.payment_status == PaymentStatus.PENDING
    localstripe.set_session_state(order.gateway_reference, "paid")
    client.get(f"/p/shop-a/checkout/return/{order.id}?session_id={order.gateway_reference}")
    db.session.refresh(order)
    assert order.payment_status == PaymentStatus.PAID


def test_a_forged_session_id_on_the_return_page_pays_nothing(
    stripe_shop, client, shops, add_to_cart, checkout, localstripe, db
):
    _checkout(client, add_to_cart, checkout)
    first = db.session.scalar(select(Order))
    _checkout(client, add_to_cart, checkout)
    second = db.session.scalar(select(Order).where(Order.id != first.id))
    localstripe.set_session_state(first.gateway_reference, "paid")
    client.get(f"/p/shop-a/checkout/return/{second.id}?session_id={first.gateway_reference}")
    db.session.refresh(second)
    assert second.payment_status == PaymentStatus.PENDING


def test_webhook_and_return_page_together_pay_once(
    stripe_shop, client, shops, add_to_cart, checkout, localstripe, db, handed_over
):
    _checkout(client, add_to_cart, checkout)
    order = db.session.scalar(select(Order))
    localstripe.set_session_state(order.gateway_reference, "paid")
    session = localstripe.session(order.gateway_reference)
    payload, headers = signed_delivery(make_event("checkout.session.completed", session))
    assert (
        client.post("/webhooks/stripe", data=payload, headers=headers).get_json()["result"]
        == "paid"
    )
    client.get(f"/p/shop-a/checkout/return/{order.id}?session_id={order.gateway_reference}")
    db.session.refresh(order)
    assert order.payment_status == PaymentStatus.PAID and handed_over == [order.id]
    assert json.loads(payload)["created"] <= time.time()


def test_stripe_unreachable_keeps_the_order_and_says_so(
    app, client, shops, add_to_cart, checkout, db
):
    app.config.update(
        PAYMENT_GATEWAY="stripe",
        STRIPE_SECRET_KEY="sk_test_x",
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        STRIPE_API_BASE="http://127.0.0.1:9",
    )
    client.get("/p/shop-a/?lang=en")
    response = _checkout(client, add_to_cart, checkout)
    order = db.session.scalar(select(Order))
    assert response.status_code == 302 and response.location.endswith(f"/orders/{order.id}")
    assert order.payment_status == PaymentStatus.PENDING
    page = client.get(response.location).get_data(as_text=True)
    assert "Payment is unavailable right now" in page and "Pay this order" in page


def test_an_operator_refund_gives_the_money_back_through_stripe(
    stripe_shop, client, shops, add_to_cart, checkout, localstripe, db, sign_in_operator, form_token
):
    _checkout(client, add_to_cart, checkout)
    order = db.session.scalar(select(Order))
    localstripe.set_session_state(order.gateway_reference, "paid")
    client.get(f"/p/shop-a/checkout/return/{order.id}?session_id={order.gateway_reference}")
    sign_in_operator(client)
    response = client.post(
        f"/admin/orders/{order.id}/refund",
        data={"csrf_token": form_token(f"/admin/orders/{order.id}"), "reason": "buyer withdrew"},
    )
    assert response.status_code == 302
    db.session.refresh(order)
    assert order.payment_status == PaymentStatus.REFUNDED
    refunds = localstripe._get("/v1/refunds")["data"]
    assert [(r["amount"], r["status"]) for r in refunds] == [(order.total_cents, "succeeded")]
    assert "re_" in order.history[-1].reason or "re_" in " ".join(h.reason for h in order.history)


def test_a_refund_stripe_refuses_changes_nothing(
    stripe_shop, client, shops, add_to_cart, checkout, localstripe, db, sign_in_operator, form_token
):
    _checkout(client, add_to_cart, checkout)
    order = db.session.scalar(select(Order))
    order.payment_status = PaymentStatus.PAID  # paid in our books, but Stripe never took the money
    db.session.commit()
    sign_in_operator(client)
    client.post(
        f"/admin/orders/{order.id}/refund",
        data={"csrf_token": form_token(f"/admin/orders/{order.id}")},
    )
    db.session.refresh(order)
    assert order.payment_status == PaymentStatus.PAID
