"""Fulfilment fixtures: both wholesaler simulators, a loopback SMTP server, paid orders."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from support.processes import PATIENCE, Changes
from support.simulators import simulator_changes

from commerce.models import Order
from commerce.orders import ADDON_BACKUP, BuyerDetails, LineRequest, place_order
from fulfilment.simulators import SimulatorHandle, start_simulator
from storefront.payments.base import PaymentEvent, PaymentOutcome
from storefront.payments.services import confirm_payment

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


@dataclass
class Inbox:
    """What the loopback SMTP server received; tests wait on its arrivals, not on the clock."""

    messages: list[Message] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrivals: Changes = field(default_factory=Changes)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        with self.lock:
            self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        self.arrivals.announce()
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Message]:
        with self.lock:
            return [m for m in self.messages if m["To"] == address]

    def wait_for(self, address: str, count: int = 1, timeout: float = PATIENCE) -> list[Message]:
        """Wait until at least count messages to address have arrived; return them."""
        return self.arrivals.wait_until(
            lambda: (found := self.to(address)) and len(found) >= count and found,
            timeout,
            f"{count} e-mail(s) to {address}",
        )


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[tuple[Controller, Inbox]]:
    inbox = Inbox()
    with socket.socket() as probe:  # aiosmtpd's start-up self-check cannot connect to port 0
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield controller, inbox
    controller.stop()


@pytest.fixture
def inbox(smtp_server) -> Inbox:
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
        lines: list[tuple[str, int]] | None = None,
        email: str = "buyer@example.com",
        event_id: str | None = None,
    ) -> Order:
        partner = catalogue[partner_key]
        requests = [
            LineRequest(code, qty) for code, qty in (lines or [("OFFICE-HOME-2024-WIN", 1)])
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
