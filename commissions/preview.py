"""What a change to a programme would have done to last month's sales, before it is made.

For each line of the network delivered in the last calendar month (Paris time) and attributed to a
reseller, `preview` computes with rules.commission_for what the rules in force at its delivery
gave, and what they would give with the change: a draft's rates instead of the version then in
force, or one more promotion or product multiplier applied over the whole month. It reads and
never writes: no ledger entry, no audit row, nothing flushed.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from commerce.models import LicenceType, Order, OrderLine, PaymentStatus
from commissions.models import EntryKind, LedgerEntry, OrderAttribution, Programme, Reseller
from commissions.programmes import aware, multipliers_at, promotions_at, version_at
from commissions.rules import (
    ActiveMultiplier,
    ActivePromotion,
    Commission,
    Rates,
    SubscriptionEvent,
    commission_for,
)
from commissions.services import infer_event, line_facts
from extensions import db

PARIS = ZoneInfo("Europe/Paris")


@dataclass(frozen=True)
class Change:
    """What is previewed: new rates, or one more promotion, or one more product multiplier."""

    rates: Rates | None = None
    promotion: ActivePromotion | None = None
    multiplier: ActiveMultiplier | None = None


@dataclass(frozen=True)
class PreviewLine:
    order_number: str
    reseller_code: str
    product_code: str
    family: str
    delivered_at: datetime
    net_cents: int
    current_cents: int
    proposed_cents: int
    current_explanation: str
    proposed_explanation: str

    @property
    def difference(self) -> int:
        return self.proposed_cents - self.current_cents


@dataclass(frozen=True)
class PreviewTotal:
    key: str
    lines: int
    current_cents: int
    proposed_cents: int

    @property
    def difference(self) -> int:
        return self.proposed_cents - self.current_cents


@dataclass(frozen=True)
class Preview:
    period_start: datetime
    period_end: datetime
    currency: str
    lines: list[PreviewLine]
    by_reseller: list[PreviewTotal]
    by_family: list[PreviewTotal]
    total: PreviewTotal

    @property
    def month(self) -> str:
        return self.period_start.astimezone(PARIS).strftime("%Y-%m")


def last_month(now: datetime) -> tuple[datetime, datetime]:
    """The last whole calendar month before now, Paris time, as UTC [start, end)."""
    local = aware(now).astimezone(PARIS)
    end = datetime(local.year, local.month, 1, tzinfo=PARIS)
    year, month = (end.year, end.month - 1) if end.month > 1 else (end.year - 1, 12)
    start = datetime(year, month, 1, tzinfo=PARIS)
    return start.astimezone(UTC), end.astimezone(UTC)


def _delivered(programme: Programme, start: datetime, end: datetime
               ) -> list[tuple[uuid.UUID, datetime]]:
    """(order line, delivered at) of the network's lines delivered in [start, end): software lines
    with their add-ons, and lines accrued then without a delivery (backup renewals)."""
    from fulfilment.models import FulfilmentLine

    delivered = dict(db.session.execute(
        select(FulfilmentLine.order_line_id, FulfilmentLine.delivered_at)
        .join(Order, Order.id == FulfilmentLine.order_id)
        .where(Order.partner_id == programme.partner_id,
               FulfilmentLine.delivered_at >= start, FulfilmentLine.delivered_at < end)
    ).all())
    if delivered:
        for addon_id, parent_id in db.session.execute(
            select(OrderLine.id, OrderLine.parent_line_id)
            .where(OrderLine.parent_line_id.in_(list(delivered)))
        ):
            delivered.setdefault(addon_id, delivered[parent_id])  # type: ignore[index]
    for line_id, created in db.session.execute(
        select(LedgerEntry.order_line_id, LedgerEntry.created_at)
        .join(Order, Order.id == LedgerEntry.order_id)
        .where(Order.partner_id == programme.partner_id, LedgerEntry.kind == EntryKind.ACCRUAL,
               LedgerEntry.created_at >= start, LedgerEntry.created_at < end)
    ):
        if line_id is not None:
            delivered.setdefault(line_id, created)
    return [(k, v) for k, v in delivered.items() if v is not None]


def _event(line: OrderLine, when: datetime, accrual: LedgerEntry | None) -> SubscriptionEvent:
    """The subscription event the ledger recorded, or the one the rules would infer then."""
    if accrual is not None and accrual.rule.startswith("subscription."):
        name = accrual.rule.removeprefix("subscription.")
        if name in {e.value for e in SubscriptionEvent}:
            return SubscriptionEvent(name)
    if line.product.licence_type == LicenceType.SUBSCRIPTION:
        return infer_event(line, when)
    return SubscriptionEvent.FIRST_YEAR


def _amount(commission: Commission | None) -> tuple[int, str]:
    return (0, "") if commission is None else (commission.amount_cents, commission.explanation)


def _totals(lines: Iterable[PreviewLine], key: str) -> list[PreviewTotal]:
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for line in lines:
        bucket = sums[getattr(line, key)]
        bucket[0] += 1
        bucket[1] += line.current_cents
        bucket[2] += line.proposed_cents
    return [PreviewTotal(k, n, c, p) for k, (n, c, p) in sorted(sums.items())]


def preview(programme: Programme, change: Change, now: datetime) -> Preview:
    """Last month's delivered lines under the rules in force then and under the change."""
    start, end = last_month(now)
    with db.session.no_autoflush:
        rows = [(when, row) for line_id, when in _delivered(programme, start, end)
                if (row := _line(line_id)) is not None]
        # By delivery, then order and position: a line before its add-ons.
        rows.sort(key=lambda item: (item[0], item[1][0].order.number, item[1][0].position))
        lines = [_compare(programme, change, line, code, accrual, when)
                 for when, (line, code, accrual) in rows]
    total = PreviewTotal("total", len(lines), sum(x.current_cents for x in lines),
                         sum(x.proposed_cents for x in lines))
    return Preview(start, end, programme.currency, lines, _totals(lines, "reseller_code"),
                   _totals(lines, "family"), total)


def _line(line_id: uuid.UUID) -> tuple[OrderLine, str, LedgerEntry | None] | None:
    """A paid, attributed, not clawed-back line with its reseller's code and its accrual."""
    line = db.session.get(OrderLine, line_id)
    if line is None or line.order.payment_status != PaymentStatus.PAID:
        return None
    code = db.session.scalar(
        select(Reseller.code).join(OrderAttribution, OrderAttribution.reseller_id == Reseller.id)
        .where(OrderAttribution.order_id == line.order_id))
    if code is None:
        return None
    entries = db.session.scalars(select(LedgerEntry).where(
        LedgerEntry.order_line_id == line.id)).all()
    if any(e.kind == EntryKind.CLAWBACK for e in entries):
        return None
    accrual = next((e for e in entries if e.kind == EntryKind.ACCRUAL), None)
    return line, code, accrual


def _compare(programme: Programme, change: Change, line: OrderLine, reseller_code: str,
             accrual: LedgerEntry | None, when: datetime) -> PreviewLine:
    facts = line_facts(line)
    version = version_at(programme, when)
    promotions = promotions_at(programme, when)
    multipliers = multipliers_at(programme, when)
    event = _event(line, when, accrual)
    current = (commission_for(facts, Rates.from_json(version.rates), promotions, event,
                              multipliers=multipliers) if version is not None else None)
    rates = change.rates or (Rates.from_json(version.rates) if version is not None else None)
    proposed = None
    if rates is not None:
        proposed = commission_for(
            facts, rates, [*promotions, *([change.promotion] if change.promotion else [])], event,
            multipliers=[*multipliers, *([change.multiplier] if change.multiplier else [])])
    (current_cents, current_text), (proposed_cents, proposed_text) = (
        _amount(current), _amount(proposed))
    return PreviewLine(line.order.number, reseller_code, line.product_code, facts.family, when,
                       facts.net_cents, current_cents, proposed_cents, current_text,
                       proposed_text)
