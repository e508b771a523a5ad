"""The e-mail a buyer receives once their order is paid and delivered confirms it on a durable
medium (Code de la consommation L221-13): what was paid for, the terms of sale accepted, and
the consent to immediate delivery that waives the right of withdrawal (L221-28 13°)."""

from __future__ import annotations

import html as html_lib
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from commerce.models import Order, TaxTreatment
from commerce.orders import ADDON_BACKUP, BuyerDetails, LineRequest, place_order
from legal.terms import in_force
from payments.base import PaymentEvent, PaymentOutcome
from payments.services import confirm_payment

CONSENTED = datetime(2026, 12, 6, 21, 30, 5, tzinfo=UTC)  # 22:30:05 in Paris


@pytest.fixture
def shop_order(db, catalogue):
    """An order as checkout places it (consent, terms), then paid the way the gateway says."""

    def make(email: str, locale: str = "fr", reverse_charge: bool = False) -> Order:
        partner = catalogue["arvato_shop"]
        order = place_order(
            partner, [LineRequest("OFFICE-HOME-2024-WIN", 2, (ADDON_BACKUP,))],
            BuyerDetails(email, "Camille Martin", locale=locale),
            consent_at=CONSENTED, consent_version="2026-11-v1", gateway="stripe")
        order.terms_version = in_force().version
        if reverse_charge:
            order.company, order.vat_number = "Muster GmbH", "DE136695976"
            order.billing_country, order.tax_treatment = "DE", TaxTreatment.REVERSE_CHARGE
            for line in order.lines:
                line.vat_rate, line.vat_cents = 0, 0
            order.vat_cents = 0
        order.gateway_reference = f"test_{order.id.hex}"
        db.session.commit()
        confirm_payment(PaymentEvent(f"evt_{order.id}", "checkout.session.completed",
                                     PaymentOutcome.PAID, order.id, order.gateway_reference,
                                     order.total_cents, order.currency), "stripe")
        return db.session.scalar(select(Order).where(Order.id == order.id))

    return make


def _parts(message) -> tuple[str, str]:
    text = message.get_body(("plain",)).get_content()
    html = html_lib.unescape(message.get_body(("html",)).get_content())
    return text, html


def test_the_french_email_restates_the_waiver_its_time_and_version_lines_and_backup(
        wired, db, shop_order, inbox):
    order = shop_order("camille@example.com")
    (mail,) = inbox.wait_for("camille@example.com")
    text, html = _parts(mail)
    for part in (text, html):
        assert ("vous avez expressément demandé la fourniture immédiate de votre contenu "
                "numérique") in part
        assert "vous perdez ainsi votre droit de rétractation" in part
        assert "L221-28 13°" in part
        assert "6 décembre 2026" in part and "22:30:05" in part and "heure de Paris" in part
        assert "version du libellé 2026-11-v1" in part
        assert f"Conditions générales de vente acceptées : version {in_force().version}" in part
        assert f"/legal/terms/{in_force().version}" in part
        # What was paid for, line by line, the two-year backup included.
        assert "2 × Office Famille 2024" in part and "2 × Sauvegarde" in part
        assert "Sauvegarde de la licence pendant deux ans" in part
        assert "Total TTC" in part
    office, backup = order.lines
    assert f"{office.total_cents / 100:.2f}".replace(".", ",") in text
    assert f"{backup.total_cents / 100:.2f}".replace(".", ",") in text
    assert "/backups/find" in text
    # The footer links the three legal pages.
    for path in ("/legal", "/legal/terms", "/legal/privacy"):
        assert f"{path}\n" in text + "\n" or f"{path}\"" in html


def test_the_english_email_restates_the_same_in_english(wired, db, shop_order, inbox):
    shop_order("ada@example.com", locale="en")
    (mail,) = inbox.wait_for("ada@example.com")
    text, html = _parts(mail)
    for part in (text, html):
        assert ("you expressly asked for your digital content to be supplied at once, before "
                "the end of the 14-day withdrawal period") in part
        assert "you thereby lose your right of withdrawal" in part
        assert "December 6, 2026" in part and "10:30:05" in part and "Paris time" in part
        assert "wording version 2026-11-v1" in part
        assert f"Terms of sale accepted: version {in_force().version}" in part
        assert "Two-year licence backup" in part
        assert "Legal notice" in part and "Privacy notice" in part


def test_a_reverse_charged_order_says_so_instead_of_an_amount_of_vat(
        wired, db, shop_order, inbox):
    shop_order("einkauf@muster.example", locale="en", reverse_charge=True)
    (mail,) = inbox.wait_for("einkauf@muster.example")
    text, html = _parts(mail)
    for part in (text, html):
        assert "VAT 0 %: reverse charge" in part and "of which VAT" not in part
