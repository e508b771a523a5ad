"""Fulfilment fixtures: both wholesaler simulators, a loopback SMTP server, paid orders."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from support.processes import serving
from support.simulators import simulator_changes
from support.smtp import Mailbox

from commerce.models import Order
from commerce.orders import ADDON_BACKUP, BuyerDetails, LineRequest, place_order
from fulfilment.simulators import SimulatorHandle, start_simulator
from payments.base import PaymentEvent, PaymentOutcome
from payments.services import confirm_payment

NEXWAY = {"api_key": "test-nexway-key", "callback_secret": "test-nexway-callback-secret"}
ARVATO = {"username": "comptoir", "password": "test-arvato-password"}


@pytest.fixture(scope="session")
def simulators() -> Iterator[dict[str, SimulatorHandle]]:
    with (
        start_simulator("nexway", config={"delivery_delay_ms": 0}, **NEXWAY) as nexway,
        start_simulator("arvato", **ARVATO) as arvato,
    ):
        for handle in (nexway, arvato):
            simulator_changes(handle)  # before any request, so tests can wait on what they do
        yield {"nexway": nexway, "arvato": arvato}


@pytest.fixture(scope="session")
def smtp_server(smtp_mailbox: tuple[Controller, Mailbox]) -> tuple[Controller, Mailbox]:
    """The loopback SMTP server (tests/support/smtp.py), shared by the whole run."""
    return smtp_mailbox


@pytest.fixture
def inbox(smtp_server) -> Mailbox:
    with smtp_server[1].lock:
        smtp_server[1].messages.clear()
    return smtp_server[1]


@pytest.fixture
def sims(simulators) -> dict[str, SimulatorHandle]:
    for handle in simulators.values():
        handle.reset()
        if handle.name == "nexway":
            handle.configure(delivery_delay_ms=0)
    return simulators


@pytest.fixture
def wired(app, sims, smtp_server):
    """The app pointed at the simulators and the SMTP server, with fast retries."""
    app.config.update(
        NEXWAY_URL=sims["nexway"].url,
        ARVATO_URL=sims["arvato"].url,
        WHOLESALER_TIMEOUT=0.5,
        WHOLESALER_CONNECT_TIMEOUT=0.5,
        WHOLESALER_RETRY_ATTEMPTS=3,
        WHOLESALER_RETRY_BASE=0.01,
        WHOLESALER_RETRY_CAP=0.02,
        FULFILMENT_MAX_ATTEMPTS=3,
        FULFILMENT_RETRY_BASE=1.0,
        FULFILMENT_POLL_INTERVAL=0.0,
        MAIL_BACKEND="smtp",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=smtp_server[0].port,
    )
    from licensing.keys import ensure_signing_key

    ensure_signing_key()
    return app


@pytest.fixture
def catalogue(make_product, make_partner):
    office = make_product(
        code="OFFICE-HOME-2024-WIN",
        name="Office Famille 2024",
        skus={"nexway": "NX-OFF-HOME-24", "arvato": "AR-OFF-HOME-24"},
    )
    m365 = make_product(
        code="M365-FAMILY-1Y",
        family="microsoft365",
        name="Microsoft 365 Famille",
        licence_type="subscription",
        term_months=12,
        seats=6,
        seat_unit="user",
        list_price_cents=12900,
        skus={"nexway": "NX-M365-FAM", "arvato": "AR-M365-FAM"},
    )
    backup = make_product(
        code=ADDON_BACKUP,
        kind="addon",
        family="addon",
        name="Sauvegarde",
        list_price_cents=990,
        skus={},
    )
    arvato_shop = make_partner(
        slug="oem", kind="oem", wholesaler_code="arvato", products=[office, m365, backup]
    )
    nexway_shop = make_partner(
        slug="retail", wholesaler_code="nexway", products=[office, m365, backup]
    )
    return {"office": office, "m365": m365, "arvato_shop": arvato_shop, "nexway_shop": nexway_shop}


@pytest.fixture
def paid_order(db, catalogue):
    """Place an order and confirm its payment the way a gateway event would."""

    def make(
        partner_key: str = "arvato_shop",
        lines: list[tuple[str, int] | tuple[str, int, tuple[str, ...]]] | None = None,
        email: str = "buyer@example.com",
        event_id: str | None = None,
    ) -> Order:
        partner = catalogue[partner_key]
        requests = [
            LineRequest(*spec) for spec in (lines or [("OFFICE-HOME-2024-WIN", 1)])
        ]
        order = place_order(partner, requests, BuyerDetails(email, "Camille Martin"))
        order.gateway_reference = f"test_{order.id.hex}"  # as start_payment records it
        db.session.commit()
        event = PaymentEvent(
            event_id or f"evt_{order.id}",
            "checkout.session.completed",
            PaymentOutcome.PAID,
            order.id,
            order.gateway_reference,
            order.total_cents,
            order.currency,
        )
        confirm_payment(event, "stripe")
        return db.session.scalar(select(Order).where(Order.id == order.id))

    return make


@pytest.fixture
def live_app(wired):
    """The app served over HTTP on loopback, so the simulator's callbacks really arrive."""
    with serving(wired) as server:
        wired.config["CALLBACK_BASE_URL"] = f"http://127.0.0.1:{server.server_port}"
        yield wired


@pytest.fixture
def delivered(wired, paid_order, client):  # type: ignore[no-untyped-def]
    """A delivered arvato order of one key, opened in the buyer's browser through its e-mailed
    link: (order, the key's unit view)."""
    from support.links import shop_path

    from commerce import access
    from fulfilment.delivery import line_deliveries

    order = paid_order()
    assert client.get(shop_path(access.access_url(order))).status_code == 302
    [(_line, [unit])] = line_deliveries(order).values()
    return order, unit
