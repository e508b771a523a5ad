"""The one-stop shop (OSS) return: a quarter's sales to EU consumers outside France, per
member state and rate, as each merchant of record declares them.

Each sale is declared by the merchant its invoice names (a partner that later changes its
merchant of record keeps its past sales; an order paid before invoices existed goes by its
shop's setting). A sale counts in the quarter its payment was confirmed (`paid_at`, Paris
time), a refund in the quarter it succeeded, as a negative amount in the same state and rate
as its sale. Every line of an order pays the same rate (one tax decision an order), so a
refund's VAT is the VAT inside the amount given back. French sales go in the French return,
reverse-charged ones in the recapitulative statement: neither is here.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import and_, select
from sqlalchemy.orm import selectinload

from commerce.models import (
    MerchantOfRecord,
    Order,
    Partner,
    PaymentStatus,
    Refund,
    RefundStatus,
    TaxTreatment,
)
from commerce.money import vat_included
from commerce.tax import HOME_COUNTRY
from extensions import db
from invoicing.document import DocumentKind
from invoicing.models import PLATFORM, Invoice

PARIS = ZoneInfo("Europe/Paris")
QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
COLUMNS = ("merchant", "quarter", "country", "vat_rate", "taxable_amount", "vat_amount",
           "sales", "refunds")
# Payment statuses of orders whose sale stands, possibly refunded in part or whole since.
SOLD = (PaymentStatus.PAID, PaymentStatus.REFUND_PENDING, PaymentStatus.PARTIALLY_REFUNDED,
        PaymentStatus.REFUNDED, PaymentStatus.DISPUTED)


class QuarterError(ValueError):
    pass


@dataclass
class OssRow:
    merchant: str
    quarter: str
    country: str
    rate: Decimal
    net_cents: int = 0
    vat_cents: int = 0
    sales: int = 0
    refunds: int = 0


def quarter_bounds(quarter: str) -> tuple[datetime, datetime]:
    """2026-Q4 -> [1 Oct 2026 00:00, 1 Jan 2027 00:00) in Paris time."""
    found = QUARTER.match(quarter.strip().upper())
    if not found:
        raise QuarterError(f"a quarter is written YYYY-Qn, like 2026-Q4, not {quarter!r}")
    year, number = int(found.group(1)), int(found.group(2))
    if not 2000 <= year <= 2199:
        raise QuarterError(f"no OSS return for the year {year}")
    start = date(year, 3 * number - 2, 1)
    end = date(year + (number == 4), 1 if number == 4 else 3 * number + 1, 1)
    return (datetime.combine(start, time(), PARIS), datetime.combine(end, time(), PARIS))


def declarant(partner: Partner) -> str:
    """Who declares a shop's sales now: the platform, or the partner under its slug."""
    return partner.slug if partner.merchant_of_record == MerchantOfRecord.PARTNER else PLATFORM


def _sellers(order_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The declarant each order's invoice names: the platform or the selling partner's slug."""
    if not order_ids:
        return {}
    rows = db.session.execute(
        select(Invoice.order_id, Invoice.merchant_key, Partner.slug)
        .outerjoin(Partner, Partner.id == Invoice.seller_partner_id)
        .where(Invoice.order_id.in_(order_ids), Invoice.kind == DocumentKind.INVOICE)
    ).all()
    return {order_id: PLATFORM if key == PLATFORM else str(slug)
            for order_id, key, slug in rows}


def oss_return(quarter: str, merchant: str | None = None) -> list[OssRow]:
    """The quarter's rows, per merchant, state and rate; `merchant` keeps one of them."""
    start, end = quarter_bounds(quarter)
    label = quarter.strip().upper()
    rows: dict[tuple[str, str, Decimal], OssRow] = {}

    def row(order: Order) -> OssRow | None:
        who = sellers.get(order.id) or declarant(order.partner)
        if merchant is not None and who != merchant:
            return None
        rate = order.lines[0].vat_rate if order.lines else Decimal("0")
        key = (who, order.vat_country, rate)
        if key not in rows:
            rows[key] = OssRow(who, label, order.vat_country, rate)
        return rows[key]

    oss = and_(Order.tax_treatment == TaxTreatment.STANDARD, Order.vat_country != HOME_COUNTRY)
    sales = db.session.scalars(
        select(Order).where(oss, Order.payment_status.in_(SOLD),
                            Order.paid_at >= start, Order.paid_at < end)
        .options(selectinload(Order.lines), selectinload(Order.partner))
    ).all()
    refunds = db.session.scalars(
        select(Refund).join(Order, Refund.order_id == Order.id)
        .where(oss, Refund.status == RefundStatus.SUCCEEDED,
               Refund.completed_at >= start, Refund.completed_at < end)
    ).all()
    sellers = _sellers([o.id for o in sales] + [r.order_id for r in refunds])
    for order in sales:
        target = row(order)
        if target is not None:
            target.net_cents += order.net_cents
            target.vat_cents += order.vat_cents
            target.sales += 1
    for refund in refunds:
        refunded = db.session.get(Order, refund.order_id)
        assert refunded is not None
        target = row(refunded)
        if target is not None:
            vat = vat_included(refund.amount_cents, target.rate)
            target.net_cents -= refund.amount_cents - vat
            target.vat_cents -= vat
            target.refunds += 1
    return sorted(rows.values(), key=lambda r: (r.merchant, r.country, r.rate))


def as_csv(rows: Iterable[OssRow]) -> str:
    """The return as CSV: amounts in euros with a dot, one row per merchant, state and rate."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for r in rows:
        writer.writerow([r.merchant, r.quarter, r.country, f"{r.rate:.2f}",
                         _euros(r.net_cents), _euros(r.vat_cents), r.sales, r.refunds])
    return out.getvalue()


def _euros(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def merchants() -> list[str]:
    """Every merchant that could declare: the platform, each partner selling in its name, and
    each that did (its invoices name it)."""
    selling = select(Partner.slug).where(Partner.merchant_of_record == MerchantOfRecord.PARTNER)
    sold = (select(Partner.slug).join(Invoice, Invoice.seller_partner_id == Partner.id)
            .distinct())
    slugs = sorted(set(db.session.scalars(selling)) | set(db.session.scalars(sold)))
    return [PLATFORM, *slugs]


def by_merchant(rows: Iterable[OssRow]) -> dict[str, list[OssRow]]:
    grouped: dict[str, list[OssRow]] = defaultdict(list)
    for r in rows:
        grouped[r.merchant].append(r)
    return dict(grouped)
