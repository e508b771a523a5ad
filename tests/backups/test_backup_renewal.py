"""Buying two more years of a licence backup: a paid one-line order extends it, once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from backups.vault import get_backup, purge_expired
from backups.vault.services import add_years
from commerce.models import CapturedMail, FulfilmentStatus, Order, OrderLine, PaymentStatus, utcnow
from fulfilment import services
from legal.terms import in_force
from payments.base import PaymentEvent, PaymentOutcome
from payments.services import confirm_payment


def _renew(client, form_token, backup_id, consent: bool = True, terms: bool = True):
    token = form_token(f"/p/shop-a/backups/{backup_id}/renew")
    data = {"csrf_token": token, "terms_version": in_force().version,
            **({"consent": "y"} if consent else {}), **({"terms": "y"} if terms else {})}
    return client.post(f"/p/shop-a/backups/{backup_id}/renew", data=data)


def test_a_buyer_renews_a_backup_for_two_more_years(
    client, shops, english, make_user, sign_in, backed_order, form_token, pay_test_card, db
):
    user = make_user(email="camille@example.com")
    sign_in("shop-a", "camille@example.com")
    backed = backed_order(shops.a, user=user)
    before = backed.backup.expires_at
    page = client.get(f"/p/shop-a/backups/{backed.backup.id}/renew").get_data(as_text=True)
    assert "Order with obligation to pay" in page and "9.90" in page
    response = _renew(client, form_token, backed.backup.id)
    assert response.status_code == 302 and "/pay/test/" in response.location
    pay_test_card(response.location)
    renewal = db.session.scalar(select(Order).where(Order.id != backed.order.id))
    assert renewal.payment_status == PaymentStatus.PAID
    assert renewal.fulfilment_status == FulfilmentStatus.DELIVERED
    assert renewal.terms_version == in_force().version
    db.session.expire_all()
    assert get_backup(backed.backup.id).expires_at == add_years(before, 2)
    mail = db.session.scalar(select(CapturedMail).where(CapturedMail.subject.contains("renewed")))
    assert mail is not None and mail.to == "camille@example.com"


def test_the_same_renewal_paid_twice_extends_once(
    client, shops, english, make_user, sign_in, backed_order, form_token, db
):
    user = make_user(email="camille@example.com")
    sign_in("shop-a", "camille@example.com")
    backed = backed_order(shops.a, user=user)
    _renew(client, form_token, backed.backup.id)
    renewal = db.session.scalar(select(Order).where(Order.id != backed.order.id))
    for event_id in ("evt_1", "evt_2"):
        confirm_payment(
            PaymentEvent(
                event_id,
                "checkout.session.completed",
                PaymentOutcome.PAID,
                renewal.id,
                None,
                renewal.total_cents,
                "EUR",
            ),
            "stripe",
        )
    services.fulfil_order(renewal.id)
    services.sweep(now=utcnow() + timedelta(hours=1))
    line = db.session.scalar(select(OrderLine).where(OrderLine.order_id == renewal.id))
    db.session.expire_all()
    assert get_backup(backed.backup.id).expires_at == line.renews_until
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(CapturedMail)
            .where(CapturedMail.subject.contains("renewed"))
        )
        == 1
    )


def test_renewing_needs_consent_and_the_terms_and_changes_nothing_without_them(
    client, shops, english, make_user, sign_in, backed_order, form_token, db
):
    user = make_user(email="camille@example.com")
    sign_in("shop-a", "camille@example.com")
    backed = backed_order(shops.a, user=user)
    response = _renew(client, form_token, backed.backup.id, consent=False)
    assert response.status_code == 400 and 'id="consent-error"' in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Order)) == 1
    response = _renew(client, form_token, backed.backup.id, terms=False)
    assert response.status_code == 400 and 'id="terms-error"' in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Order)) == 1


def test_another_buyers_backup_cannot_be_renewed(
    client, shops, english, make_user, sign_in, backed_order
):
    make_user(email="other@example.com")
    sign_in("shop-a", "other@example.com")
    backed = backed_order(shops.a, email="camille@example.com")
    assert client.get(f"/p/shop-a/backups/{backed.backup.id}/renew").status_code == 404
    assert client.get(f"/p/shop-b/backups/{backed.backup.id}/renew").status_code in (302, 404)


def test_a_purged_backup_says_it_can_no_longer_be_renewed(
    client, shops, english, make_user, sign_in, backed_order, db
):
    user = make_user(email="camille@example.com")
    sign_in("shop-a", "camille@example.com")
    backed = backed_order(shops.a, user=user, delivered_at=utcnow() - timedelta(days=800))
    purge_expired()
    response = client.get(f"/p/shop-a/backups/{backed.backup.id}/renew")
    assert response.status_code == 409
    assert "can no longer be renewed" in response.get_data(as_text=True)


def test_an_expired_backup_is_brought_back_by_a_renewal(
    client, shops, english, make_user, sign_in, backed_order, form_token, pay_test_card, db
):
    user = make_user(email="camille@example.com")
    sign_in("shop-a", "camille@example.com")
    backed = backed_order(shops.a, user=user, delivered_at=utcnow() - timedelta(days=740))
    response = _renew(client, form_token, backed.backup.id)
    pay_test_card(response.location)
    db.session.expire_all()
    backup = get_backup(backed.backup.id)
    assert backup.status == "stored" and backup.expires_at > utcnow() + timedelta(days=700)


def test_a_renewal_credits_the_buyers_reseller_once(
    client, shops, english, make_user, sign_in, backed_order, form_token, pay_test_card, db
):
    from datetime import UTC, datetime

    from commissions import (
        Rates,
        attach_client,
        attribute_order,
        create_reseller,
        set_programme,
    )
    from commissions.models import LedgerEntry

    set_programme(
        shops.a,
        Rates.from_json(
            {
                "perpetual": {"*": "0.05"},
                "addons": {"backup": "0.30", "install": "0.40"},
                "subscription": {
                    "first_year": "0.12",
                    "first_year_bonus": "0.06",
                    "renewal": "0.06",
                    "upsell": "0.12",
                    "upsell_bonus": "0.06",
                },
            }
        ),
        datetime(2023, 1, 1, tzinfo=UTC),
    )
    create_reseller(shops.a, "Info Services", "info@example.com", code="RA-INFO")
    user = make_user(email="camille@example.com")
    backed = backed_order(shops.a, user=user)
    attribute_order(backed.order, reseller_code="RA-INFO")
    backed.order.payment_status = PaymentStatus.PAID
    db.session.commit()
    attach_client(backed.order.id)
    db.session.commit()  # attach_client writes in the caller's transaction
    sign_in("shop-a", "camille@example.com")
    pay_test_card(_renew(client, form_token, backed.backup.id).location)
    renewal = db.session.scalar(select(Order).where(Order.id != backed.order.id))
    entries = db.session.scalars(
        select(LedgerEntry).where(LedgerEntry.order_id == renewal.id)
    ).all()
    # 9.90 EUR incl. VAT = 8.25 EUR net; 30 % backup rate = 2.475 -> 2.48 EUR (half-even)
    assert [(e.kind, e.amount_cents, e.rule) for e in entries] == [("accrual", 248, "addon.backup")]
    services.sweep(now=utcnow() + timedelta(hours=1))
    assert (
        db.session.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.order_id == renewal.id)
        )
        == 1
    )


def test_a_renewal_is_taxed_as_the_backups_order_was(
    client, shops, english, make_user, sign_in, backed_order, form_token, db, vies
):
    """A German consumer renews at German VAT; a German business, whose number VIES confirms
    again, under reverse charge."""
    from decimal import Decimal

    user = make_user(email="camille@example.com")
    sign_in("shop-a", "camille@example.com")
    consumer = backed_order(shops.a, user=user)
    consumer.order.billing_country = "DE"
    business = backed_order(shops.a, user=user)
    business.order.billing_country, business.order.company = "DE", "Müller GmbH"
    business.order.vat_number = "DE136695976"
    business.order.billing_line1, business.order.billing_postcode = "Hauptstraße 1", "10115"
    business.order.billing_city = "Berlin"
    db.session.commit()
    page = client.get(f"/p/shop-a/backups/{consumer.backup.id}/renew").get_data(as_text=True)
    assert "VAT 19 % (Germany)" in page
    for backed in (consumer, business):
        assert _renew(client, form_token, backed.backup.id).status_code == 302
    renewals = {o.vat_number: o for o in db.session.scalars(
        select(Order).where(Order.id.not_in([consumer.order.id, business.order.id])))}
    german = renewals[""]
    assert (german.vat_country, german.tax_treatment) == ("DE", "standard")
    assert german.lines[0].vat_rate == Decimal("19.00")
    reverse = renewals["DE136695976"]
    assert (reverse.tax_treatment, reverse.vat_cents, reverse.vies_status) == (
        "reverse_charge", 0, "valid")
    assert reverse.company == "Müller GmbH" and reverse.billing_city == "Berlin"
    assert reverse.total_cents < german.total_cents
