"""Payout runs: one payout per reseller of its payable entries, with CSV and PDF statements.

An entry is payable once its holding period is over; a reseller is paid when the sum of its
payable, unpaid entries reaches the programme's minimum. A clawback written after a payout is an
unpaid negative entry, so it nets against the next run. Entries are claimed with a conditional
UPDATE (payout_id IS NULL), so two runs at once never pay an entry twice.
"""

from __future__ import annotations

import io
import uuid
from datetime import datetime
from xml.sax.saxutils import escape

from sqlalchemy import func, select, update

from commerce.numbers import next_value
from commissions.models import LedgerEntry, Payout, Reseller
from commissions.programmes import now_or, programme_for
from commissions.reports import EntryView, entries_csv, entries_for_payout
from commissions.services import DEFAULT_MINIMUM_PAYOUT_CENTS
from extensions import db


def _due(reseller_id: uuid.UUID, now: datetime):  # type: ignore[no-untyped-def]
    return (LedgerEntry.reseller_id == reseller_id, LedgerEntry.payout_id.is_(None),
            LedgerEntry.payable_at <= now)


def run_payouts(now: datetime | None = None) -> list[Payout]:
    """Pay every reseller whose payable balance reaches its programme's minimum; commits each."""
    now = now_or(now)
    totals = db.session.execute(
        select(LedgerEntry.reseller_id, func.sum(LedgerEntry.amount_cents))
        .where(LedgerEntry.payout_id.is_(None), LedgerEntry.payable_at <= now)
        .group_by(LedgerEntry.reseller_id)
    ).all()
    payouts = []
    for reseller_id, total in totals:
        reseller = db.session.get(Reseller, reseller_id)
        assert reseller is not None
        programme = programme_for(reseller.partner_id)
        minimum = programme.minimum_payout_cents if programme else DEFAULT_MINIMUM_PAYOUT_CENTS
        if int(total) < max(minimum, 1):
            continue
        payout = _pay(reseller, now, programme.currency if programme else "EUR")
        if payout is not None:
            payouts.append(payout)
    return payouts


def _pay(reseller: Reseller, now: datetime, currency: str) -> Payout | None:
    entries = db.session.scalars(select(LedgerEntry).where(*_due(reseller.id, now))).all()
    ids = [e.id for e in entries]
    amount = sum(e.amount_cents for e in entries)
    first = min(e.created_at for e in entries)
    payout = Payout(
        reseller_id=reseller.id, number=f"PO-{now.year}-{next_value(f'payout-{now.year}'):06d}",
        period=f"{first.date().isoformat()}/{now.date().isoformat()}", amount_cents=amount,
        currency=currency, created_at=now, statement_csv="", statement_pdf=b"",
    )
    db.session.add(payout)
    db.session.flush()
    claimed = db.session.execute(
        update(LedgerEntry).where(*_due(reseller.id, now), LedgerEntry.id.in_(ids))
        .values(payout_id=payout.id).execution_options(synchronize_session=False)
    )
    if claimed.rowcount != len(ids):  # type: ignore[attr-defined]
        db.session.rollback()  # another run took some of these entries; it pays them
        return None
    db.session.expire_all()
    views = entries_for_payout(payout.id)
    payout.statement_csv = entries_csv(views)
    payout.statement_pdf = statement_pdf(payout, reseller, views)
    db.session.commit()
    return payout


def _amount(cents: int) -> str:
    return f"{'-' if cents < 0 else ''}{abs(cents) // 100},{abs(cents) % 100:02d}"


def statement_pdf(payout: Payout, reseller: Reseller, entries: list[EntryView]) -> bytes:
    """A one-document PDF statement of a payout: header, one row per entry, the total."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    styles = getSampleStyleSheet()
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=landscape(A4), title=f"Relevé {payout.number}",
                            author="Comptoir")
    rows: list[list[object]] = [["Date", "Type", "Commande", "Produit", "Règle", "Taux",
                                 f"Montant ({payout.currency})"]]
    for v in entries:
        rows.append([v.created_at.date().isoformat(), v.kind, v.order_number or "-",
                     v.product_code or v.reason[:40], v.rule, v.rate or "-",
                     _amount(v.amount_cents)])
    rows.append(["", "", "", "", "", "Total", _amount(payout.amount_cents)])
    table = Table(rows, repeatRows=1)
    table.setStyle(TableStyle([
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#1f4e79")),
        ("TEXTCOLOR", (0, 0), (-1, 0), colors.white),
        ("FONTNAME", (0, -1), (-1, -1), "Helvetica-Bold"),
        ("ALIGN", (-1, 0), (-1, -1), "RIGHT"),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
    ]))
    story = [
        Paragraph(f"Relevé de commissions {payout.number}", styles["Title"]),
        Paragraph(escape(f"{reseller.name} ({reseller.code}), {reseller.email}"), styles["Normal"]),
        Paragraph(f"Période {payout.period}, payé le {payout.created_at.date().isoformat()}",
                  styles["Normal"]),
        Spacer(1, 12),
        table,
    ]
    doc.build(story)
    return out.getvalue()
