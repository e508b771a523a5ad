"""A partner brought on board with the commands alone sells, delivers and credits like the
demo's partners: its domain serves its shop, the wholesaler it was given delivers, the buyer
gets the e-mail, and the reseller who brought the client is credited once."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parseaddr, parsedate_to_datetime

import pytest
from sqlalchemy import select
from support.partners import LEGAL_IDENTITY

from commerce.models import FulfilmentStatus, Order, Partner, utcnow
from commerce.orders import BuyerDetails, LineRequest, place_order
from commissions import Rates, attribute_order, create_reseller, set_programme
from commissions.models import LedgerEntry
from fulfilment.delivery import line_deliveries
from fulfilment.models import FulfilmentLine
from licensing.services import verify_licence_token
from payments.base import PaymentEvent, PaymentOutcome
from payments.services import confirm_payment

RATES = Rates.from_json({
    "perpetual": {"office": "0.08", "*": "0.05"},
    "addons": {"backup": "0.30", "install": "0.40"},
    "subscription": {"first_year": "0.12", "first_year_bonus": "0.06", "renewal": "0.06",
                     "upsell": "0.12", "upsell_bonus": "0.06"},
})


@pytest.mark.parametrize("wholesaler", ["arvato", "nexway"])
def test_a_partner_made_by_commands_sells_delivers_and_credits(
        wired, db, runner, client, sims, inbox, make_product, wholesaler):
    make_product(code="OFFICE-HOME-2024-WIN", name="Office Famille 2024",
                 skus={"nexway": "NX-OFF-HOME-24", "arvato": "AR-OFF-HOME-24"})
    slug = f"reseau-{wholesaler}"
    steps = [
        ["partners", "create", slug, "--name", "Réseau Ouest", "--kind", "channel",
         "--wholesaler", wholesaler, "--domain", f"boutique.{slug}.example",
         "--set", "support_email=aide@reseau.example"],
        ["partners", "update", slug, *(f"--set={k}={v}" for k, v in LEGAL_IDENTITY.items())],
        ["partners", "price", slug, "OFFICE-HOME-2024-WIN", "139.00"],
        ["partners", "open", slug],
    ]
    for args in steps:
        result = runner.invoke(args=args)
        assert result.exit_code == 0, (args, result.output)
    assert client.get("/", headers={"Host": f"boutique.{slug}.example"}).status_code == 200

    partner = db.session.scalar(select(Partner).where(Partner.slug == slug))
    set_programme(partner, RATES, datetime(2026, 1, 1, tzinfo=UTC))
    reseller = create_reseller(partner, "Atelier Info", "atelier@example.com", code="ATELIER")
    db.session.commit()

    order = place_order(partner, [LineRequest("OFFICE-HOME-2024-WIN", 1)],
                        BuyerDetails("client@example.com", "Camille Martin"))
    attribute_order(order, reseller_code="ATELIER")
    order.gateway_reference = f"test_{order.id.hex}"
    db.session.commit()
    assert order.total_cents == 13900
    event = PaymentEvent(f"evt_{order.id}", "checkout.session.completed", PaymentOutcome.PAID,
                         order.id, order.gateway_reference, order.total_cents, order.currency)
    confirm_payment(event, "stripe")
    confirm_payment(event, "stripe")  # the gateway's retry: nothing twice

    if wholesaler == "nexway":  # delivered later: the sweep polls until the keys are there
        from fulfilment import services

        for _ in range(20):
            services.sweep()
            db.session.expire_all()
            if db.session.get(Order, order.id).fulfilment_status == FulfilmentStatus.DELIVERED:
                break
    db.session.expire_all()
    order = db.session.get(Order, order.id)
    assert order.fulfilment_status == FulfilmentStatus.DELIVERED
    (line,) = db.session.scalars(select(FulfilmentLine).where(
        FulfilmentLine.order_id == order.id)).all()
    assert line.wholesaler_code == wholesaler
    ((_, views),) = line_deliveries(order).values()
    assert len(views) == 1 and verify_licence_token(views[0].licence_token).status == "valid"
    assert sims[wholesaler].state()["purchases"] == 1
    (mail,) = inbox.wait_for("client@example.com")
    assert mail["Subject"].startswith("Réseau Ouest · ")
    assert mail["Reply-To"] == "aide@reseau.example"
    # Headers a receiving server expects: the date, and a Message-ID on the sender's own domain.
    sender_domain = parseaddr(wired.config["MAIL_SENDER"])[1].rpartition("@")[2]
    assert abs((parsedate_to_datetime(mail["Date"]) - utcnow()).total_seconds()) < 120
    assert mail["Message-ID"].endswith(f"@{sender_domain}>")
    (credit,) = db.session.scalars(select(LedgerEntry).where(
        LedgerEntry.reseller_id == reseller.id)).all()
    assert credit.kind == "accrual" and credit.amount_cents > 0
