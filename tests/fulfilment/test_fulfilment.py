"""A paid order reaches its wholesaler and the buyer, exactly once, whatever fails on the way."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from commerce.models import FulfilmentStatus, Order, utcnow
from events.models import EventDelivery
from fulfilment import services
from fulfilment.delivery import line_deliveries
from fulfilment.models import DeliveredUnit, FulfilmentLine, LineStatus, OutgoingEmail, RoutingRule
from fulfilment.wholesalers import is_valid_product_key
from licensing.models import LicenceRecord
from licensing.services import verify_licence_token


def _count(db, model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _lines(db, order: Order) -> list[FulfilmentLine]:
    return db.session.scalars(
        select(FulfilmentLine).where(FulfilmentLine.order_id == order.id)
    ).all()


def test_synchronous_wholesaler_delivers_keys_licences_and_one_email(
    wired, db, paid_order, sims, inbox
):
    order = paid_order("arvato_shop", [("OFFICE-HOME-2024-WIN", 2)])
    db.session.refresh(order)
    assert order.fulfilment_status == FulfilmentStatus.DELIVERED
    (line,) = _lines(db, order)
    assert line.wholesaler_code == "arvato" and "contracted" in line.routing_reason
    views = line_deliveries(order)[line.order_line_id][1]
    assert len(views) == 2 and all(is_valid_product_key(v.product_key) for v in views)
    for view in views:
        verdict = verify_licence_token(view.licence_token)
        assert verdict.status == "valid", verdict
    assert sims["arvato"].state()["purchases"] == 1
    (mail,) = inbox.to("buyer@example.com")
    body = mail.get_body(("plain",)).get_content()
    assert all(v.product_key in body and v.licence_token in body for v in views)


def test_product_keys_are_encrypted_at_rest(wired, db, paid_order):
    order = paid_order("arvato_shop")
    (line,) = _lines(db, order)
    unit = db.session.scalar(select(DeliveredUnit))
    key = line_deliveries(order)[line.order_line_id][1][0].product_key
    assert key.encode() not in unit.product_key_ciphertext
    assert key.replace("-", "").encode() not in unit.product_key_ciphertext


def test_asynchronous_wholesaler_is_polled_until_delivered(wired, db, paid_order, sims, inbox):
    order = paid_order("nexway_shop")
    (line,) = _lines(db, order)
    assert line.status == LineStatus.ORDERED
    db.session.refresh(order)
    assert order.fulfilment_status == FulfilmentStatus.IN_PROGRESS
    assert inbox.to("buyer@example.com") == []
    report = services.sweep(now=utcnow() + timedelta(seconds=5))
    assert report.lines_tried == 1
    db.session.refresh(line)
    assert line.status == LineStatus.DELIVERED
    assert sims["nexway"].state()["purchases"] == 1
    assert len(inbox.to("buyer@example.com")) == 1


def test_subscription_licences_expire_after_their_term(wired, db, paid_order):
    order = paid_order("arvato_shop", [("M365-FAMILY-1Y", 1)])
    record = db.session.scalar(select(LicenceRecord))
    assert record.expires_at is not None
    assert 364 <= (record.expires_at - order.paid_at).days <= 366


def test_wholesaler_503_for_a_while_then_recovering_delivers_with_one_purchase(
    wired, db, paid_order, sims, inbox
):
    sims["arvato"].configure(fail_next_n=4, fault_scope=["create_order"])
    order = paid_order("arvato_shop")
    (line,) = _lines(db, order)
    assert (
        line.status == LineStatus.PENDING
        and line.attempts == 1
        and "503" in (line.last_error or "")
    )
    services.sweep(now=utcnow() + timedelta(hours=1))
    db.session.refresh(line)
    assert line.status == LineStatus.DELIVERED
    assert sims["arvato"].state()["purchases"] == 1
    assert len(inbox.to("buyer@example.com")) == 1


def test_a_timeout_after_the_wholesaler_accepted_buys_nothing_twice(wired, db, paid_order, sims):
    sims["arvato"].configure(timeout_next_n=1, timeout_ms=1500, fault_scope=["create_order"])
    order = paid_order("arvato_shop")
    services.sweep(now=utcnow() + timedelta(hours=1))
    (line,) = _lines(db, order)
    assert line.status == LineStatus.DELIVERED
    assert sims["arvato"].state()["purchases"] == 1


def test_a_malformed_answer_is_never_a_key_and_the_line_retries(wired, db, paid_order, sims):
    sims["arvato"].configure(
        malformed_next_n=1, malformed_mode="bad_key", fault_scope=["create_order"]
    )
    order = paid_order("arvato_shop")
    (line,) = _lines(db, order)
    assert line.status == LineStatus.PENDING and "MalformedAnswer" in line.attempts_log[-1].outcome
    assert _count(db, DeliveredUnit) == 0
    services.sweep(now=utcnow() + timedelta(hours=1))
    db.session.refresh(line)
    assert line.status == LineStatus.DELIVERED and _count(db, DeliveredUnit) == 1


def test_after_the_last_try_the_line_waits_for_attention(wired, db, paid_order, sims, inbox):
    sims["arvato"].configure(fail_next_n=1000, fault_scope=["create_order"])
    order = paid_order("arvato_shop")
    for hours in (1, 2, 3):
        services.sweep(now=utcnow() + timedelta(hours=hours))
    (line,) = _lines(db, order)
    assert line.status == LineStatus.NEEDS_ATTENTION and "gave up after 3 tries" in line.last_error
    db.session.refresh(order)
    assert order.fulfilment_status == FulfilmentStatus.NEEDS_ATTENTION
    assert len(line.attempts_log) >= 3
    (mail,) = inbox.to("buyer@example.com")
    assert (
        "delayed" in mail.get_body(("plain",)).get_content()
        or "retard" in mail.get_body(("plain",)).get_content()
    )


def test_an_unknown_sku_needs_attention_at_once(wired, db, paid_order, sims):
    sims["arvato"].configure(unknown_skus=["AR-OFF-HOME-24"])
    order = paid_order("arvato_shop")
    (line,) = _lines(db, order)
    assert line.status == LineStatus.NEEDS_ATTENTION and line.attempts == 0
    assert sims["arvato"].state()["purchases"] == 0


def test_out_of_stock_fails_over_only_where_the_partner_allows_it(
    wired, db, paid_order, sims, catalogue
):
    sims["arvato"].configure(out_of_stock=["AR-OFF-HOME-24"])
    refused = paid_order("arvato_shop")
    (line,) = _lines(db, refused)
    assert line.status == LineStatus.NEEDS_ATTENTION and "failover" in line.last_error
    catalogue["arvato_shop"].allow_failover = True
    db.session.commit()
    allowed = paid_order("arvato_shop", email="other@example.com")
    (line,) = _lines(db, allowed)
    assert line.wholesaler_code == "nexway" and "failover to nexway" in line.routing_reason
    assert line.status == LineStatus.ORDERED


def test_a_routing_rule_sends_a_product_elsewhere_with_its_reason(wired, db, paid_order, catalogue):
    db.session.add(
        RoutingRule(
            partner_id=catalogue["arvato_shop"].id,
            product_id=catalogue["m365"].id,
            wholesaler_code="nexway",
            reason="Microsoft 365 only at Nexway",
        )
    )
    db.session.commit()
    order = paid_order("arvato_shop", [("M365-FAMILY-1Y", 1), ("OFFICE-HOME-2024-WIN", 1)])
    routes = {
        line.order_line.product_code: (line.wholesaler_code, line.routing_reason)
        for line in _lines(db, order)
    }
    assert routes["M365-FAMILY-1Y"] == ("nexway", "routing rule: Microsoft 365 only at Nexway")
    assert routes["OFFICE-HOME-2024-WIN"][0] == "arvato"


def test_a_partly_delivered_order_is_shown_as_it_is(wired, db, paid_order, sims, client):
    sims["arvato"].configure(unknown_skus=["AR-M365-FAM"])
    order = paid_order("arvato_shop", [("OFFICE-HOME-2024-WIN", 1), ("M365-FAMILY-1Y", 1)])
    db.session.refresh(order)
    assert order.fulfilment_status == FulfilmentStatus.PARTIALLY_DELIVERED
    with client.session_transaction() as session:
        session["guest_orders"] = [str(order.id)]
    html = client.get(f"/p/oem/orders/{order.id}?lang=en").get_data(as_text=True)
    assert "Partly delivered" in html
    key = next(v for _, views in line_deliveries(order).values() for v in views).product_key
    assert key in html and "This item is delayed" in html


def test_a_lost_hand_over_is_found_by_the_sweep(wired, db, paid_order, sims, inbox, monkeypatch):
    """The broker is down when the payment commits: the OrderPaid event waits in the outbox."""
    import events.tasks

    def broker_down(event_ids):
        raise ConnectionError("broker down")

    monkeypatch.setattr(events.tasks, "relay_events", broker_down)
    order = paid_order("arvato_shop")
    db.session.refresh(order)
    assert order.fulfilment_status == FulfilmentStatus.AWAITING
    assert services.sweep().events_delivered == 0  # just paid: its own hand-over may still come
    monkeypatch.undo()
    report = services.sweep(now=utcnow() + timedelta(seconds=30))
    # The order's start (fulfilment, its invoice, webhooks), and in the same transaction the
    # consumers of its delivered line (commissions, e-mail) and of the delivered order (webhooks).
    assert report.events_delivered == 6 and report.events_failed == 0
    db.session.refresh(order)
    assert order.fulfilment_status == FulfilmentStatus.DELIVERED
    assert sims["arvato"].state()["purchases"] == 1 and len(inbox.to("buyer@example.com")) == 1


def test_fulfilling_again_changes_nothing(wired, db, paid_order, sims, inbox):
    order = paid_order("arvato_shop", [("OFFICE-HOME-2024-WIN", 3)])
    for _ in range(3):
        services.fulfil_order(order.id)
        services.sweep(now=utcnow() + timedelta(days=1))
    assert _count(db, DeliveredUnit) == 3 and _count(db, LicenceRecord) == 3
    assert sims["arvato"].state()["purchases"] == 1 and len(inbox.to("buyer@example.com")) == 1


def test_an_email_that_fails_is_owed_and_sent_later_once(wired, db, paid_order, inbox, smtp_server):
    wired.config["SMTP_PORT"] = 9  # nothing listens there
    order = paid_order("arvato_shop")
    assert inbox.to("buyer@example.com") == []
    db.session.refresh(order)
    assert order.fulfilment_status == FulfilmentStatus.DELIVERED
    # The consumer's part is done (the e-mail is owed, with the delivery it announces); the send,
    # made once that committed, failed: the e-mail stays owed with its error.
    (delivery,) = db.session.scalars(
        select(EventDelivery).where(EventDelivery.consumer == "buyer-email")).all()
    assert delivery.done_at is not None
    (owed,) = db.session.scalars(select(OutgoingEmail).where(OutgoingEmail.order_id == order.id))
    assert owed.status == "pending" and owed.sent_at is None
    assert "Connection refused" in owed.last_error
    wired.config["SMTP_PORT"] = smtp_server[0].port
    assert services.sweep().emails_sent == 1
    assert services.sweep(now=utcnow() + timedelta(hours=1)).emails_sent == 0
    assert len(inbox.to("buyer@example.com")) == 1
    db.session.refresh(owed)
    assert owed.status == "sent" and owed.sent_at is not None and owed.attempts == 2