"""The demo's lived-in history: the demo buyer's orders, a reseller's commissions and a payout.

Everything goes through the real services: orders are placed and paid as the test card page
pays them, fulfilled by the wholesaler simulators started in-process for the occasion, refunded
and paid out by their services. The history is then moved back in time, order by order, by
shifting every date those services wrote for it by the same amount, so that a page or a job
reads it as if it had happened weeks ago.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from flask import current_app
from sqlalchemy import Table, select, update

from commerce.models import Order, Partner, User
from commerce.orders import ADDON_BACKUP, BuyerDetails, LineRequest, place_order
from extensions import db, utcnow

if TYPE_CHECKING:
    from fulfilment.simulators import SimulatorHandle

log = logging.getLogger("comptoir.demo")

ACTOR = "demo"
RESELLER_NETWORK = "reseaupro"
# The demo reseller's bank account (a valid French IBAN of the demo), for its SEPA transfer.
RESELLER_BANK = ("FR7630004000031234567890143", "BNPAFRPPXXX", "Dupont Informatique SARL")
PAYOUT_DAYS_AGO = 13
# Frozen documents and signed tokens keep the day they were made: an invoice's number, date and
# PDF, a licence's signature, the e-mails already caught.
NOT_SHIFTED = frozenset({"invoices", "licensing_licences", "licensing_audit", "captured_mails",
                         "outgoing_emails", "processed_events"})


@dataclass(frozen=True)
class Purchase:
    """One order of the history: where, what, who, how long ago, and what happens to it."""

    key: str
    shop: str
    lines: tuple[LineRequest, ...]
    days_ago: float
    buyer: tuple[str, str] | None = None  # (e-mail, name) of a guest; None: the demo buyer
    reseller_code: str | None = None
    refund: bool = False
    out_of_stock: str | None = None  # the wholesaler has none of this SKU: an operator steps in


def purchases(reseller_code: str) -> list[Purchase]:
    """The history, oldest first (so invoice numbers follow the dates)."""
    return [
        Purchase("backup", "novatech",
                 (LineRequest("OFFICE-HOME-2024-WIN", 1, (ADDON_BACKUP,)),), 118),
        Purchase("windows", "numeriland", (LineRequest("WIN11-HOME", 1),), 74),
        Purchase("subscription", RESELLER_NETWORK, (LineRequest("M365-BUSINESS-STD-1M", 3),), 25,
                 reseller_code=reseller_code),
        Purchase("server", RESELLER_NETWORK, (LineRequest("WINSRV-2025-STD", 1),), 20,
                 buyer=("sophie.lefevre@cabinet-lefevre.example", "Sophie Lefèvre"),
                 reseller_code=reseller_code),
        Purchase("refunded", RESELLER_NETWORK, (LineRequest("VISIO-STD-2024", 1),), 10,
                 refund=True),
        Purchase("payable", RESELLER_NETWORK, (LineRequest("OFFICE-HOME-2024-WIN", 1),), 5,
                 buyer=("paul.roux@atelier-roux.example", "Paul Roux"),
                 reseller_code=reseller_code),
        Purchase("attention", "novatech", (LineRequest("WIN11-PRO", 1),), 2,
                 buyer=("marc.petit@example.com", "Marc Petit"), out_of_stock="AR-WIN11-PRO"),
        Purchase("recent", RESELLER_NETWORK, (LineRequest("WIN11-PRO", 1),), 0.5),
    ]


def buyer_user() -> User | None:
    from demo import LOGINS

    return db.session.scalar(select(User).where(User.email == LOGINS["buyer"]["email"]))


def has_history() -> bool:
    """Whether the demo buyer already has orders (the history is made once)."""
    user = buyer_user()
    return user is not None and db.session.scalar(
        select(Order.id).where(Order.buyer_id == user.id).limit(1)) is not None


def load(reseller_code: str) -> dict[str, Any]:
    """Make the history once; a second call says it is there and changes nothing."""
    if has_history():
        return {"created": False, "orders": 0}
    now = utcnow()
    from commissions.bank import set_bank_details
    from commissions.models import Reseller

    reseller = db.session.scalar(select(Reseller).where(Reseller.code == reseller_code))
    assert reseller is not None, f"no demo reseller {reseller_code}"
    set_bank_details(reseller, *RESELLER_BANK, actor=ACTOR, source="demo",
                     now=now - timedelta(days=60))
    orders: dict[str, Order] = {}
    with wholesalers() as simulators:
        for purchase in purchases(reseller_code):
            simulators["arvato"].configure(out_of_stock=[purchase.out_of_stock]
                                           if purchase.out_of_stock else [])
            orders[purchase.key] = _buy(purchase)
        _deliver_all()
        for purchase in purchases(reseller_code):
            if purchase.refund:
                _refund(orders[purchase.key])
    for purchase in purchases(reseller_code):
        shift_order(orders[purchase.key].id, timedelta(days=-purchase.days_ago))
    db.session.commit()
    from commissions.payouts import run_payouts

    payouts = run_payouts(now - timedelta(days=PAYOUT_DAYS_AGO))
    log.info("demo history: %d orders, %d payout(s)", len(orders), len(payouts))
    return {"created": True, "orders": len(orders), "payouts": len(payouts)}


@contextmanager
def wholesalers() -> Iterator[dict[str, SimulatorHandle]]:
    """Both wholesaler simulators in this process, the app pointed at them, then restored."""
    from fulfilment.simulators import simulator_credentials, start_simulator

    config = current_app.config
    saved = {key: config.get(key) for key in ("NEXWAY_URL", "ARVATO_URL",
                                              "FULFILMENT_POLL_INTERVAL")}
    with ExitStack() as stack:
        nexway = stack.enter_context(start_simulator(
            "nexway", config={"delivery_delay_ms": 0},
            **simulator_credentials("nexway", config)))
        arvato = stack.enter_context(start_simulator(
            "arvato", **simulator_credentials("arvato", config)))
        config.update(NEXWAY_URL=nexway.url, ARVATO_URL=arvato.url, FULFILMENT_POLL_INTERVAL=0.0)
        try:
            yield {"nexway": nexway, "arvato": arvato}
        finally:
            config.update(saved)


def _buy(purchase: Purchase) -> Order:
    """Place and pay an order as the shop's checkout and the test card page do."""
    from commissions.attribution import attribute_order
    from payments.services import confirm_payment
    from payments.test_gateway import TEST_CARD_OK, TestGateway

    partner = db.session.scalar(select(Partner).where(Partner.slug == purchase.shop))
    assert partner is not None, f"no demo shop {purchase.shop}"
    user = None if purchase.buyer else buyer_user()
    if purchase.buyer is not None:
        email, name = purchase.buyer
    else:
        assert user is not None, "the demo buyer is made before its history"
        email, name = user.email, user.name or ""
    details = BuyerDetails(email, name, billing_postcode="75011", billing_city="Paris")
    order = place_order(partner, list(purchase.lines), details, user=user,
                        consent_at=utcnow(),
                        consent_version=current_app.config["CONSENT_WORDING_VERSION"],
                        gateway="test")
    from legal.terms import in_force

    order.terms_version = in_force().version
    db.session.flush()
    attribute_order(order, reseller_code=purchase.reseller_code, source="shop")
    reference = f"test_demo_{order.id.hex}"
    order.gateway_reference = reference
    db.session.commit()
    event = TestGateway.card_event(reference, order.id, TEST_CARD_OK, order.total_cents,
                                   order.currency)
    confirm_payment(event, "test")
    return order


def _deliver_all(rounds: int = 20) -> None:
    """Run the fulfilment sweep until no line waits (nexway's are polled: no callback here)."""
    from fulfilment.models import OPEN_STATUSES, FulfilmentLine
    from fulfilment.services import sweep

    for _ in range(rounds):
        if db.session.scalar(select(FulfilmentLine.id)
                             .where(FulfilmentLine.status.in_(OPEN_STATUSES)).limit(1)) is None:
            return
        sweep(force=True)
        db.session.commit()
    raise RuntimeError("demo history: some lines were not delivered")


def _refund(order: Order) -> None:
    from payments.refunds import refund_order

    refund_order(order.id, None, ACTOR, "Le client s'est trompé de produit")


def shift_order(order_id: uuid.UUID, delta: timedelta) -> int:
    """Move every date written for an order (its rows and theirs, down the foreign keys)."""
    from backups.vault.models import Backup
    from commerce.models import OrderLine
    from events.models import OutboxEvent

    tables = db.metadata.tables
    lines = db.session.scalars(select(OrderLine.id).where(OrderLine.order_id == order_id)).all()
    # The vault knows no shop: its backups name their order line by an opaque reference.
    backups = set(db.session.scalars(
        select(Backup.id).where(Backup.order_line_ref.in_([str(i) for i in lines]))))
    # The outbox names its order without a foreign key (an event may outlive it).
    events = set(db.session.scalars(select(OutboxEvent.id).where(OutboxEvent.order_id == order_id)))
    found: dict[str, set[Any]] = {"orders": {order_id}, "vault_backups": backups,
                                  "outbox_events": events}
    changed = True
    while changed:
        changed = False
        for table in tables.values():
            if table.name in NOT_SHIFTED or len(table.primary_key.columns) != 1:
                continue
            for fk in table.foreign_keys:
                ids = found.get(fk.column.table.name)
                if not ids or fk.column.table.name == table.name:
                    continue
                pk = next(iter(table.primary_key.columns))
                rows = set(db.session.scalars(select(pk).where(fk.parent.in_(list(ids)))))
                new = rows - found.get(table.name, set())
                if new:
                    found.setdefault(table.name, set()).update(new)
                    changed = True
    return sum(_shift_rows(tables[name], ids, delta) for name, ids in found.items())


def _shift_rows(table: Table, ids: set[Any], delta: timedelta) -> int:
    from extensions import UTCDateTime

    columns = [c for c in table.columns if isinstance(c.type, UTCDateTime)]
    if not columns:
        return 0
    pk = next(iter(table.primary_key.columns))
    rows = db.session.execute(select(pk, *columns).where(pk.in_(list(ids)))).all()
    for row in rows:
        values = {c.name: row[i + 1] + delta for i, c in enumerate(columns)
                  if isinstance(row[i + 1], datetime)}
        if values:
            db.session.execute(update(table).where(pk == row[0]).values(**values))
    return len(rows)
