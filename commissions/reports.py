"""Reading the ledger: entries as views, an order's explanation, a reseller's ledger and CSV."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, select

from commerce.models import Order, OrderLine
from commissions.attribution import attribution_for
from commissions.errors import UnknownOrder, UnknownReseller
from commissions.models import (
    LedgerEntry,
    OrderAttribution,
    Payout,
    ProgrammeVersion,
    Reseller,
    ResellerClient,
)
from commissions.programmes import now_or, reseller_by_code
from commissions.rules import percent
from commissions.services import Balances, balances
from extensions import db


@dataclass(frozen=True)
class EntryView:
    """One ledger entry as reports, the CLI and the API show it."""

    id: str
    reseller_code: str
    kind: str
    state: str
    amount_cents: int
    currency: str
    rule: str
    rate: str | None
    programme_version: str | None
    explanation: str
    reason: str
    actor: str
    order_number: str | None
    product_code: str | None
    created_at: datetime
    payable_at: datetime
    payout_number: str | None

    def as_json(self) -> dict[str, Any]:
        """The entry as JSON-ready values (ISO datetimes, rate as a decimal string)."""
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        data["payable_at"] = self.payable_at.isoformat()
        return data


@dataclass(frozen=True)
class ResellerLedger:
    """A reseller, its balances and its entries, newest first."""

    code: str
    name: str
    balances: Balances
    entries: list[EntryView]


def _entries_query() -> Select:
    return (
        select(LedgerEntry, Reseller.code, Order.number, OrderLine.product_code, Payout.number,
               ProgrammeVersion.valid_from)
        .join(Reseller, Reseller.id == LedgerEntry.reseller_id)
        .outerjoin(Order, Order.id == LedgerEntry.order_id)
        .outerjoin(OrderLine, OrderLine.id == LedgerEntry.order_line_id)
        .outerjoin(Payout, Payout.id == LedgerEntry.payout_id)
        .outerjoin(ProgrammeVersion, ProgrammeVersion.id == LedgerEntry.programme_version_id)
    )


def _views(query: Select, now: datetime) -> list[EntryView]:
    views = []
    for entry, code, order_number, product_code, payout_number, valid_from in db.session.execute(
        query
    ):
        if entry.payout_id is not None:
            state = "paid"
        else:
            state = "payable" if entry.payable_at <= now else "accrued"
        views.append(EntryView(
            id=str(entry.id), reseller_code=code, kind=str(entry.kind), state=state,
            amount_cents=entry.amount_cents, currency=entry.currency, rule=entry.rule,
            rate=None if entry.rate is None else str(entry.rate.normalize()),
            programme_version=f"v{valid_from.date().isoformat()}" if valid_from else None,
            explanation=entry.explanation, reason=entry.reason, actor=entry.actor,
            order_number=order_number, product_code=product_code, created_at=entry.created_at,
            payable_at=entry.payable_at, payout_number=payout_number,
        ))
    return views


def entries_for_payout(payout_id: uuid.UUID) -> list[EntryView]:
    """The entries a payout paid, oldest first."""
    query = _entries_query().where(LedgerEntry.payout_id == payout_id)
    return _views(query.order_by(LedgerEntry.created_at, LedgerEntry.id), now_or(None))


def ledger_for(
    reseller_code: str, partner_id: uuid.UUID | None = None, now: datetime | None = None
) -> ResellerLedger:
    """A reseller's ledger; with partner_id, only if the reseller is in that partner's network."""
    reseller = reseller_by_code(reseller_code)
    if reseller is None or (partner_id is not None and reseller.partner_id != partner_id):
        raise UnknownReseller(f"no reseller {reseller_code!r}")
    now = now_or(now)
    query = _entries_query().where(LedgerEntry.reseller_id == reseller.id)
    entries = _views(query.order_by(LedgerEntry.created_at.desc(), LedgerEntry.id), now)
    return ResellerLedger(reseller.code, reseller.name, balances(reseller, now), entries)


def _money(cents: int, currency: str) -> str:
    sign = "-" if cents < 0 else "+"
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d} {currency}"


def explain_order(order_number: str, now: datetime | None = None) -> list[str]:
    """Each ledger entry of an order with its rule, rate and arithmetic, as lines of text."""
    order = db.session.scalar(select(Order).where(Order.number == order_number.strip()))
    if order is None:
        raise UnknownOrder(f"no order {order_number!r}")
    attribution = attribution_for(order.id)
    if attribution is None:
        return [f"Order {order.number} ({order.partner.name}): not attributed to a reseller;"
                " no commission."]
    lines = [f"Order {order.number} ({order.partner.name}): reseller {attribution.reseller.code}"
             f" {attribution.reseller.name}, attributed by rule {attribution.rule}"
             + (f" ({attribution.note})" if attribution.note else "")]
    query = _entries_query().where(LedgerEntry.order_id == order.id)
    views = _views(query.order_by(LedgerEntry.created_at, LedgerEntry.kind), now_or(now))
    if not views:
        lines.append("  no ledger entry yet (lines not delivered, or no rate applies)")
    for v in views:
        rate = percent(Decimal(v.rate)) if v.rate is not None else "-"
        lines.append(f"  {v.kind:<10} {_money(v.amount_cents, v.currency):>14}  {v.product_code}"
                     f"  rule {v.rule}  rate {rate}  programme {v.programme_version or '-'}"
                     f"  [{v.state}{' ' + v.payout_number if v.payout_number else ''}]")
        lines.append(f"    {v.explanation}")
        if v.kind != "accrual" and v.reason:
            lines.append(f"    reason: {v.reason} (by {v.actor})")
    net = sum(v.amount_cents for v in views)
    lines.append(f"  net for the order: {_money(net, order.currency)}")
    return lines


def clients_of(reseller: Reseller) -> list[ResellerClient]:
    """The buyers attached to a reseller, most recent first."""
    return list(db.session.scalars(
        select(ResellerClient).where(ResellerClient.reseller_id == reseller.id)
        .order_by(ResellerClient.attached_at.desc())))


def _attributed(reseller: Reseller) -> Select[tuple[Order]]:
    return (select(Order).join(OrderAttribution, OrderAttribution.order_id == Order.id)
            .where(OrderAttribution.reseller_id == reseller.id,
                   Order.partner_id == reseller.partner_id))


def orders_of(reseller: Reseller) -> list[Order]:
    """The orders attributed to a reseller, newest first."""
    return list(db.session.scalars(_attributed(reseller).order_by(Order.created_at.desc())))


def recent_orders(reseller: Reseller, limit: int) -> list[Order]:
    """The reseller's `limit` latest attributed orders, newest first."""
    return list(db.session.scalars(
        _attributed(reseller).order_by(Order.created_at.desc(), Order.id).limit(limit)))


def order_count(reseller: Reseller) -> int:
    """How many orders are attributed to the reseller, counted by the database."""
    return int(db.session.scalar(_attributed(reseller).with_only_columns(func.count(Order.id)))
               or 0)


def client_count(reseller: Reseller) -> int:
    """How many buyers are attached to the reseller, counted by the database."""
    return int(db.session.scalar(select(func.count(ResellerClient.id))
                                 .where(ResellerClient.reseller_id == reseller.id)) or 0)


CSV_FIELDS = ("created_at", "kind", "state", "order_number", "product_code", "rule", "rate",
              "amount", "currency", "payable_at", "payout_number", "explanation", "reason")


def safe_cell(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def entries_csv(entries: Sequence[EntryView]) -> str:
    """Ledger entries as CSV for accounting: amounts in currency units, text cells defused."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_FIELDS)
    for v in entries:
        amount = f"{'-' if v.amount_cents < 0 else ''}{abs(v.amount_cents) // 100}." \
                 f"{abs(v.amount_cents) % 100:02d}"
        writer.writerow([v.created_at.isoformat(), v.kind, v.state, safe_cell(v.order_number),
                         safe_cell(v.product_code), v.rule, v.rate or "", amount, v.currency,
                         v.payable_at.isoformat(), v.payout_number or "", safe_cell(v.explanation),
                         safe_cell(v.reason)])
    return out.getvalue()


def commissions_csv(reseller_code: str, now: datetime | None = None) -> str:
    """A reseller's whole ledger as CSV, oldest first."""
    ledger = ledger_for(reseller_code, now=now)
    return entries_csv(list(reversed(ledger.entries)))


@dataclass(frozen=True)
class PayoutsOverview:
    """The back office's payouts page: recent files, recent payouts, resellers' accounts."""

    batches: list[Any]
    payouts: list[Payout]
    resellers: list[Reseller]
    awaiting_cents: int


OVERVIEW_LIMIT = 200


def payouts_overview(limit: int = OVERVIEW_LIMIT) -> PayoutsOverview:
    """The newest files and payouts, and every reseller with the account payouts go to."""
    from sqlalchemy import func

    from commissions.models import PayoutBatch, PayoutStatus

    batches = list(db.session.scalars(
        select(PayoutBatch).order_by(PayoutBatch.created_at.desc(), PayoutBatch.number.desc())
        .limit(limit)))
    payouts = list(db.session.scalars(
        select(Payout).order_by(Payout.created_at.desc(), Payout.number.desc()).limit(limit)))
    resellers = list(db.session.scalars(select(Reseller).order_by(Reseller.code).limit(limit)))
    awaiting = db.session.scalar(select(func.coalesce(func.sum(Payout.amount_cents), 0)).where(
        Payout.status == PayoutStatus.AWAITING_BANK_DETAILS))
    return PayoutsOverview(batches, payouts, resellers, int(awaiting or 0))
