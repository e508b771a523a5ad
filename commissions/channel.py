"""Direct and indirect resellers: programme roles, distributors, languages, a distributor's view.

In Microsoft's CSP words, a direct partner deals with the vendor itself and an indirect reseller
goes through a distributor. Here the network's partner runs the programme and pays the margins,
so every beneficiary of a margin is a reseller of its network: a direct reseller keeps the
margin of its sales; an indirect reseller shares it with its distributor, a reseller of the same
network (docs/commissions.md, "Direct and indirect"). Each change is audited in
`reseller_changes`; the services commit.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import select

from commerce.models import Order, OrderLine, Partner
from commissions.errors import ChannelError
from commissions.models import (
    Beneficiary,
    EntryKind,
    LedgerEntry,
    OrderAttribution,
    ProgrammeRole,
    Reseller,
    ResellerChange,
)
from commissions.programmes import now_or, programme_for, reseller_by_code
from commissions.rules import percent
from extensions import db
from partners.models import PartnerChange

LOCALES = ("fr", "en")
REASON_LENGTH = 300
RECENT_SALES = 50


def _audit(reseller: Reseller, action: str, changes: dict[str, list[str | None]], actor: str,
           reason: str, now: datetime) -> ResellerChange:
    if not actor.strip():
        raise ChannelError("say who makes the change (actor)")
    change = ResellerChange(reseller_id=reseller.id, action=action, actor=actor.strip(),
                            changes=changes, reason=reason.strip()[:REASON_LENGTH], at=now)
    db.session.add(change)
    return change


def indirect_resellers(distributor: Reseller) -> list[Reseller]:
    """The resellers that go through this distributor now, by code."""
    return list(db.session.scalars(select(Reseller).where(Reseller.distributor_id == distributor.id)
                                   .order_by(Reseller.code)))


def _distributor_for(reseller: Reseller, code: str | None) -> Reseller:
    if not code or not code.strip():
        raise ChannelError("an indirect reseller needs its distributor's referral code")
    distributor = reseller_by_code(code)
    if distributor is None or distributor.partner_id != reseller.partner_id:
        raise ChannelError(f"no reseller {code.strip().upper()!r} in this network")
    if distributor.id == reseller.id:
        raise ChannelError("a reseller cannot be its own distributor")
    if distributor.programme_role != ProgrammeRole.DISTRIBUTOR:
        raise ChannelError(f"{distributor.code} is not a distributor: make it one first")
    if not distributor.active:
        raise ChannelError(f"{distributor.code} is not active")
    return distributor


def set_programme_role(
    reseller: Reseller, role: str, distributor_code: str | None, actor: str, reason: str = "",
    now: datetime | None = None,
) -> ResellerChange | None:
    """Make a reseller direct, a distributor, or indirect through a distributor; None if unchanged.

    Margins already accrued keep their shares; the new role applies to lines delivered after.
    """
    try:
        new_role = ProgrammeRole(role.strip().lower())
    except ValueError as exc:
        raise ChannelError(f"unknown programme role {role!r}: direct, distributor or indirect"
                           ) from exc
    distributor = None
    if new_role is ProgrammeRole.INDIRECT:
        distributor = _distributor_for(reseller, distributor_code)
    elif distributor_code and distributor_code.strip():
        raise ChannelError("only an indirect reseller has a distributor")
    if (reseller.programme_role == ProgrammeRole.DISTRIBUTOR
            and new_role is not ProgrammeRole.DISTRIBUTOR and indirect_resellers(reseller)):
        raise ChannelError(f"{reseller.code} still has indirect resellers: move them first")
    before = (str(reseller.programme_role), reseller.distributor.code
              if reseller.distributor else None)
    after = (str(new_role), distributor.code if distributor else None)
    if before == after:
        return None
    change = _audit(reseller, "programme_role",
                    {"programme_role": [before[0], after[0]], "distributor": [before[1], after[1]]},
                    actor, reason, now_or(now))
    reseller.programme_role = new_role
    reseller.distributor_id = distributor.id if distributor else None
    reseller.distributor = distributor
    db.session.commit()
    return change


def set_language(reseller: Reseller, locale: str | None, actor: str,
                 now: datetime | None = None) -> ResellerChange | None:
    """Set the language of a reseller's portal and digest (fr or en; empty: no preference).

    Returns None if unchanged.
    """
    locale = (locale or "").strip().lower() or None
    if locale is not None and locale not in LOCALES:
        raise ChannelError(f"unknown language {locale!r}: fr or en")
    if locale == reseller.locale:
        return None
    change = _audit(reseller, "language", {"locale": [reseller.locale, locale]}, actor, "",
                    now_or(now))
    reseller.locale = locale
    db.session.commit()
    return change


def parse_share(text: str) -> Decimal:
    """A distributor's share as typed: a fraction (0.3) or a percentage (30%)."""
    raw = text.strip().replace(",", ".")
    try:
        value = Decimal(raw[:-1].strip()) / 100 if raw.endswith("%") else Decimal(raw)
    except InvalidOperation as exc:
        raise ChannelError(f"not a share: {text!r} (give 0.30 or 30%)") from exc
    if not value.is_finite() or not Decimal(0) <= value < 1:
        raise ChannelError("the distributor's share is at least 0 and below 100%")
    if value != value.quantize(Decimal("0.0001")):
        raise ChannelError("the distributor's share has at most four decimals (0.3333)")
    return value


def set_distributor_share(partner: Partner, share: Decimal, actor: str,
                          now: datetime | None = None) -> Decimal:
    """Set the programme's distributor share, audited on the partner; returns the previous one."""
    programme = programme_for(partner.id)
    if programme is None:
        raise ChannelError(f"partner {partner.slug} runs no programme")
    if not actor.strip():
        raise ChannelError("say who makes the change (actor)")
    share = parse_share(str(share))
    before = Decimal(programme.distributor_share)
    if before != share:
        db.session.add(PartnerChange(
            partner_id=partner.id, action="distributor_share", actor=actor.strip(),
            changes={"distributor_share": [str(before), str(share)]}, at=now_or(now)))
        programme.distributor_share = share
        db.session.commit()
    return before


def changes_of(reseller: Reseller) -> list[ResellerChange]:
    """A reseller's audited changes, newest first."""
    return list(db.session.scalars(select(ResellerChange)
                                   .where(ResellerChange.reseller_id == reseller.id)
                                   .order_by(ResellerChange.at.desc())))


# --- what a distributor sees --------------------------------------------------------------------


@dataclass
class IndirectRow:
    """One indirect reseller's sales through a distributor and both shares (cents, net)."""

    code: str
    name: str
    linked: bool  # goes through this distributor now
    sales: int = 0
    net_sales_cents: int = 0
    seller_cents: int = 0
    distributor_cents: int = 0


@dataclass(frozen=True)
class IndirectSale:
    """One line an indirect reseller sold, with both shares net of clawbacks."""

    order_number: str
    at: datetime
    reseller_code: str
    product_code: str
    net_cents: int
    seller_cents: int
    distributor_cents: int
    refunded: bool


@dataclass
class DistributorNetwork:
    """A distributor's indirect resellers, their sales and shares, with totals."""

    currency: str
    share: Decimal
    rows: list[IndirectRow] = field(default_factory=list)
    sales: list[IndirectSale] = field(default_factory=list)

    def total(self, name: str) -> int:
        return sum(getattr(row, name) for row in self.rows)

    @property
    def share_text(self) -> str:
        return percent(self.share)


def distributor_network(distributor: Reseller, now: datetime | None = None) -> DistributorNetwork:
    """What a distributor earned on its indirect resellers' sales, and what they kept.

    Built from the ledger: the lines on which the distributor holds a share, with the seller's
    share of the same lines; refunded lines count their clawbacks and no longer count as sales.
    """
    now_or(now)
    programme = programme_for(distributor.partner_id)
    network = DistributorNetwork(programme.currency if programme else "EUR",
                                 Decimal(programme.distributor_share) if programme else Decimal(0))
    rows: dict[uuid.UUID, IndirectRow] = {
        r.id: IndirectRow(r.code, r.name, True) for r in indirect_resellers(distributor)}
    per_line: dict[uuid.UUID, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for entry in db.session.scalars(select(LedgerEntry).where(
            LedgerEntry.reseller_id == distributor.id,
            LedgerEntry.beneficiary == Beneficiary.DISTRIBUTOR,
            LedgerEntry.order_line_id.is_not(None))):
        assert entry.order_line_id is not None
        figures = per_line[entry.order_line_id]
        figures["distributor"] += entry.amount_cents
        figures["refunded"] |= entry.kind == EntryKind.CLAWBACK
    line_ids = set(per_line)
    if line_ids:
        for entry in db.session.scalars(select(LedgerEntry).where(
                LedgerEntry.order_line_id.in_(line_ids),
                LedgerEntry.beneficiary == Beneficiary.SELLER)):
            assert entry.order_line_id is not None
            per_line[entry.order_line_id]["seller"] += entry.amount_cents
    lines = db.session.execute(
        select(OrderLine, Order, Reseller)
        .join(Order, Order.id == OrderLine.order_id)
        .join(OrderAttribution, OrderAttribution.order_id == Order.id)
        .join(Reseller, Reseller.id == OrderAttribution.reseller_id)
        .where(OrderLine.id.in_(line_ids))
        .order_by(Order.created_at.desc(), Order.number, OrderLine.position)).all() \
        if line_ids else []
    orders_counted: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    for line, order, seller in lines:
        figures = per_line[line.id]
        refunded = bool(figures["refunded"])
        net = 0 if refunded else line.total_cents - line.vat_cents
        row = rows.setdefault(seller.id, IndirectRow(seller.code, seller.name, False))
        row.net_sales_cents += net
        row.seller_cents += figures["seller"]
        row.distributor_cents += figures["distributor"]
        if not refunded:
            orders_counted[seller.id].add(order.id)
        if len(network.sales) < RECENT_SALES:
            network.sales.append(IndirectSale(order.number, order.paid_at or order.created_at,
                                              seller.code, line.product_code, net,
                                              figures["seller"], figures["distributor"],
                                              refunded))
    for seller_id, orders in orders_counted.items():
        rows[seller_id].sales = len(orders)
    network.rows = sorted(rows.values(), key=lambda r: r.code)
    return network
