"""Subscription fixtures: both simulators, a loopback SMTP server, a channel partner selling
Microsoft 365 monthly and annually, a reseller, and purchases paid with a test card."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from support.simulators import simulator_changes
from support.smtp import Mailbox

from commerce.models import Order, Partner
from commerce.orders import BuyerDetails, LineRequest, place_order
from commissions import Rates, attribute_order, create_reseller, set_programme
from commissions.models import Reseller
from fulfilment.simulators import SimulatorHandle, start_simulator
from payments.services import confirm_payment
from payments.test_gateway import TestGateway

NEXWAY = {"api_key": "test-nexway-key", "callback_secret": "test-nexway-callback-secret"}
ARVATO = {"username": "comptoir", "password": "test-arvato-password"}
RATES = Rates.from_json({
    "perpetual": {"office": "0.08", "*": "0.05"},
    "addons": {"backup": "0.30"},
    "subscription": {"first_year": "0.12", "first_year_bonus": "0.06", "renewal": "0.06",
                     "upsell": "0.12", "upsell_bonus": "0.06"},
})
PROGRAMME_START = datetime(2020, 1, 1, tzinfo=UTC)
PASSWORD = "reseller password 2026"  # noqa: S105 (a test login)


@pytest.fixture(scope="session")
def simulators() -> Iterator[dict[str, SimulatorHandle]]:
    with (
        start_simulator("nexway", config={"delivery_delay_ms": 0}, **NEXWAY) as nexway,
        start_simulator("arvato", **ARVATO) as arvato,
    ):
        for handle in (nexway, arvato):
            simulator_changes(handle)
        yield {"nexway": nexway, "arvato": arvato}


@pytest.fixture
def inbox(smtp_mailbox) -> Mailbox:  # type: ignore[no-untyped-def]
    with smtp_mailbox[1].lock:
        smtp_mailbox[1].messages.clear()
    return smtp_mailbox[1]


@pytest.fixture
def wired(app, simulators, smtp_mailbox):  # type: ignore[no-untyped-def]
    """The app pointed at the simulators and the SMTP server."""
    for handle in simulators.values():
        handle.reset()
    simulators["nexway"].configure(delivery_delay_ms=0)
    app.config.update(
        NEXWAY_URL=simulators["nexway"].url, ARVATO_URL=simulators["arvato"].url,
        WHOLESALER_TIMEOUT=0.5, WHOLESALER_CONNECT_TIMEOUT=0.5, WHOLESALER_RETRY_ATTEMPTS=2,
        WHOLESALER_RETRY_BASE=0.01, WHOLESALER_RETRY_CAP=0.02, FULFILMENT_MAX_ATTEMPTS=3,
        FULFILMENT_POLL_INTERVAL=0.0, MAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1",
        SMTP_PORT=smtp_mailbox[0].port)
    from licensing.keys import ensure_signing_key

    ensure_signing_key()
    return app


@pytest.fixture
def plans(make_product) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Business Standard at 180.00 € a user a year (150.00 € before VAT) and 18.00 € a month;
    Visio Plan 2 at 180.00 € a year; Office, perpetual."""
    specs = {  # code: (wholesalers' SKU, fields); the simulators read a term off M365- SKUs
        "M365-BUSINESS-STD-1Y": ("M365-BSTD-12", {"name": "Microsoft 365 Business Standard",
                                                  "term_months": 12, "list_price_cents": 18000}),
        "M365-BUSINESS-STD-1M": ("M365-BSTD-1", {
            "name": "Microsoft 365 Business Standard (mensuel)", "term_months": 1,
            "list_price_cents": 1800}),
        "VISIO-PLAN2-1Y": ("M365-VISIO-P2-12", {"name": "Visio Plan 2", "term_months": 12,
                                                "family": "visio", "list_price_cents": 18000}),
    }
    made = {code: make_product(code=code, family=fields.pop("family", "microsoft365"),
                               licence_type="subscription", seat_unit="user",
                               platform="multi", skus={"nexway": f"NX-{sku}",
                                                       "arvato": f"AR-{sku}"}, **fields)
            for code, (sku, fields) in specs.items()}
    made["OFFICE-HOME-2024-WIN"] = make_product(code="OFFICE-HOME-2024-WIN")
    return made


@pytest.fixture
def shop(make_partner, plans) -> Partner:  # type: ignore[no-untyped-def]
    partner = make_partner(slug="reseau", kind="channel", wholesaler_code="arvato",
                           products=list(plans.values()))
    set_programme(partner, RATES, PROGRAMME_START, minimum_payout_cents=5000)
    return partner


@pytest.fixture
def reseller(shop) -> Reseller:  # type: ignore[no-untyped-def]
    return create_reseller(shop, "Dupont Informatique", "a@dupont.example", code="RP-AAAA",
                           password=PASSWORD)


_references = itertools.count(1)


@pytest.fixture
def buy(db, wired, shop) -> Callable[..., Order]:  # type: ignore[no-untyped-def]
    """Place a shop order through the reseller's code and pay it with a test card: payment,
    fulfilment at the simulator, the subscription, its commission and e-mail all follow."""

    def run(code: str = "M365-BUSINESS-STD-1Y", seats: int = 5,
            email: str = "ines@example.com", card: str = "4242424242424242",
            reseller_code: str | None = "RP-AAAA") -> Order:
        order = place_order(shop, [LineRequest(code, seats)],
                            BuyerDetails(email=email, name="Inès Roy"), gateway="test")
        order.gateway_reference = f"test_ref_{next(_references)}"
        if reseller_code:
            attribute_order(order, reseller_code=reseller_code)
        db.session.commit()
        event = TestGateway.card_event(order.gateway_reference, order.id, card,
                                       order.total_cents, order.currency)
        confirm_payment(event, "test")
        return db.session.scalar(select(Order).where(Order.id == order.id))

    return run
