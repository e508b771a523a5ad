"""Payout runs: one payout per reseller of its payable entries, statements and a SEPA file.

An entry is payable once its holding period is over; a reseller is paid when the sum of its
payable, unpaid entries reaches the programme's minimum. A clawback written after a payout is an
unpaid negative entry, so it nets against the next run. Entries are claimed with a conditional
UPDATE (payout_id IS NULL), so two runs at once never pay an entry twice; payouts are filed into
a credit-transfer file the same way (batch_id IS NULL), so none is in two files.

The promise (docs/commissions.md, "Payouts"): an entry is in a payout at most PROMISE after its
balance became due, that is after the later of its `payable_at` and the moment the reseller's
payable, unpaid balance reached the minimum. The job runs every hour, so a run that is missed
or fails is caught up by the next one, well within the promise.
"""

from __future__ import annotations

import io
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any
from xml.sax.saxutils import escape

from sqlalchemy import Select, func, select, update

from commerce.numbers import next_value
from commerce.status import InvalidTransition
from commissions.bank import BankDetails, mask_iban
from commissions.models import (
    UNFILED,
    LedgerEntry,
    Payout,
    PayoutBatch,
    PayoutStatus,
    PayoutStatusChange,
    Reseller,
)
from commissions.programmes import now_or, programme_for
from commissions.reports import EntryView, entries_csv, entries_for_payout
from commissions.services import DEFAULT_MINIMUM_PAYOUT_CENTS
from extensions import db

log = logging.getLogger("comptoir.commissions")

PROMISE = timedelta(hours=48)
RUN_EVERY = timedelta(hours=1)  # the beat schedule runs at the top of each hour (tasks.py)
S = PayoutStatus
# None is a payout being made: it starts computed.
PAYOUT_TRANSITIONS: dict[PayoutStatus | None, frozenset[PayoutStatus]] = {
    None: frozenset({S.COMPUTED}),
    S.COMPUTED: frozenset({S.AWAITING_BANK_DETAILS, S.IN_FILE}),
    S.AWAITING_BANK_DETAILS: frozenset({S.IN_FILE}),
    S.IN_FILE: frozenset(),
    S.SETTLED: frozenset(),
}


def _audit(payout: Payout, current: PayoutStatus | None, new: PayoutStatus, reason: str,
           at: datetime) -> None:
    """Check a move against the table and record it (the caller has moved and commits)."""
    if new not in PAYOUT_TRANSITIONS[current]:
        raise InvalidTransition("payout", str(current or "none"), str(new))
    db.session.add(PayoutStatusChange(payout_id=payout.id, from_status=current, to_status=new,
                                      reason=reason, at=at))


def next_run_after(now: datetime) -> datetime:
    """When the hourly job next runs: the next top of the hour (UTC)."""
    return now.replace(minute=0, second=0, microsecond=0) + RUN_EVERY


def _minimum(reseller: Reseller) -> int:
    programme = programme_for(reseller.partner_id)
    return max(programme.minimum_payout_cents if programme else DEFAULT_MINIMUM_PAYOUT_CENTS, 1)


def _due(reseller_id: uuid.UUID, now: datetime):  # type: ignore[no-untyped-def]
    return (LedgerEntry.reseller_id == reseller_id, LedgerEntry.payout_id.is_(None),
            LedgerEntry.payable_at <= now)


def run_payouts(now: datetime | None = None) -> list[Payout]:
    """Pay every reseller whose payable balance reaches its programme's minimum, then file.

    Each payout commits on its own; then every payout not yet in a file whose reseller has bank
    details goes into this run's credit-transfer file (PayoutFileError if the paying account is
    not set: the payouts stay, and the next run files them).
    """
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
        if int(total) < _minimum(reseller):
            continue
        programme = programme_for(reseller.partner_id)
        payout = _pay(reseller, now, programme.currency if programme else "EUR")
        if payout is not None:
            payouts.append(payout)
    file_payouts(now)
    return payouts


def _pay(reseller: Reseller, now: datetime, currency: str) -> Payout | None:
    entries = db.session.scalars(select(LedgerEntry).where(*_due(reseller.id, now))).all()
    ids = [e.id for e in entries]
    amount = sum(e.amount_cents for e in entries)
    if not entries or amount < _minimum(reseller):
        return None  # a concurrent run paid them since the totals were read
    first = min(e.created_at for e in entries)
    payout = Payout(
        reseller_id=reseller.id, number=f"PO-{now.year}-{next_value(f'payout-{now.year}'):06d}",
        period=f"{first.date().isoformat()}/{now.date().isoformat()}", amount_cents=amount,
        currency=currency, created_at=now, statement_csv="", statement_pdf=b"",
        status=PayoutStatus.COMPUTED,
    )
    db.session.add(payout)
    db.session.flush()
    _audit(payout, None, PayoutStatus.COMPUTED, "payable balance reached the minimum", now)
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


def file_payouts(now: datetime | None = None) -> list[PayoutBatch]:
    """Put every unfiled payout of a reseller with bank details into a credit-transfer file.

    One file per currency. Payouts of resellers without bank details wait, marked so, and are
    filed by the first run after the reseller gives them.
    """
    from commissions.sepa import debtor_account

    now = now_or(now)
    unfiled = list(db.session.scalars(
        select(Payout).where(Payout.status.in_(UNFILED)).order_by(Payout.currency, Payout.number)))
    for payout in unfiled:
        if not payout.reseller.has_bank_details and payout.status == PayoutStatus.COMPUTED:
            moved = db.session.execute(
                update(Payout).where(Payout.id == payout.id,
                                     Payout.status == PayoutStatus.COMPUTED)
                .values(status=PayoutStatus.AWAITING_BANK_DETAILS)
                .execution_options(synchronize_session=False))
            if moved.rowcount:  # type: ignore[attr-defined]
                _audit(payout, PayoutStatus.COMPUTED, PayoutStatus.AWAITING_BANK_DETAILS,
                       "the reseller has no bank details", now)
    db.session.commit()
    ready = [p for p in unfiled if p.reseller.has_bank_details]
    if not ready:
        return []
    debtor = debtor_account()
    batches = []
    for currency, group in groupby(ready, key=lambda p: p.currency):
        batch = _file(list(group), currency, debtor, now)
        if batch is not None:
            batches.append(batch)
    return batches


def _file(payouts: list[Payout], currency: str, debtor: BankDetails,
          now: datetime) -> PayoutBatch | None:
    from commissions.sepa import SCHEMA, credit_transfer_file

    was = {p.id: PayoutStatus(p.status) for p in payouts}
    batch = PayoutBatch(
        number=f"SEPA-{now.year}-{next_value(f'payout-batch-{now.year}'):06d}", created_at=now,
        execution_date=now.date(), currency=currency, debtor_name=debtor.holder,
        debtor_iban=debtor.iban, debtor_bic=debtor.bic, schema=SCHEMA, transfers=len(payouts),
        total_cents=sum(p.amount_cents for p in payouts), xml=b"",
    )
    db.session.add(batch)
    db.session.flush()
    claimed = db.session.execute(
        update(Payout).where(Payout.id.in_(list(was)), Payout.status.in_(UNFILED))
        .values(batch_id=batch.id, status=PayoutStatus.IN_FILE)
        .execution_options(synchronize_session=False))
    if claimed.rowcount != len(payouts):  # type: ignore[attr-defined]
        db.session.rollback()  # another run filed some of them; the next run files the rest
        return None
    db.session.expire_all()
    try:
        for payout in batch.payouts:
            reseller = payout.reseller
            payout.iban, payout.bic, payout.holder = (
                reseller.bank_iban, reseller.bank_bic, reseller.bank_holder)
            _audit(payout, was[payout.id], PayoutStatus.IN_FILE, f"in file {batch.number}", now)
            payout.statement_pdf = statement_pdf(payout, reseller, entries_for_payout(payout.id))
        batch.xml = credit_transfer_file(batch.number, now, batch.execution_date, currency,
                                         debtor, list(batch.payouts))
    except BaseException:
        db.session.rollback()
        raise
    db.session.commit()
    log.info("payout file %s: %d transfer(s), %d cents %s", batch.number, batch.transfers,
             batch.total_cents, currency)
    return batch


def batch_by_reference(reference: str) -> list[PayoutBatch]:
    """The file by its number (SEPA-2026-000001), or every file of a day (2026-03-05)."""
    from datetime import date

    found = db.session.scalar(select(PayoutBatch).where(PayoutBatch.number == reference.strip()))
    if found is not None:
        return [found]
    try:
        day = date.fromisoformat(reference.strip())
    except ValueError:
        return []
    return list(db.session.scalars(select(PayoutBatch).where(PayoutBatch.execution_date == day)
                                   .order_by(PayoutBatch.number)))


@dataclass(frozen=True)
class PayoutOutlook:
    """What the reseller's next payout will be, when it will come, and what holds it back."""

    payable_cents: int
    minimum_cents: int
    due_since: datetime | None  # when the payable, unpaid balance last reached the minimum
    next_run_at: datetime
    awaiting_bank_details_cents: int
    has_bank_details: bool

    @property
    def next_payout_cents(self) -> int:
        return self.payable_cents if self.due_since is not None else 0

    @property
    def promised_by(self) -> datetime | None:
        return self.due_since + PROMISE if self.due_since is not None else None


def outlook(reseller: Reseller, now: datetime | None = None) -> PayoutOutlook:
    """The reseller's next payout as the dashboard shows it."""
    now = now_or(now)
    minimum = _minimum(reseller)
    payable, due_since = db.session.execute(_due_since(reseller, now, minimum)).one()
    waiting = db.session.scalar(
        select(func.coalesce(func.sum(Payout.amount_cents), 0))
        .where(Payout.reseller_id == reseller.id, Payout.status.in_(UNFILED)))
    return PayoutOutlook(int(payable), minimum, due_since, next_run_after(now),
                         0 if reseller.has_bank_details else int(waiting or 0),
                         reseller.has_bank_details)


def _due_since(reseller: Reseller, now: datetime, minimum: int) -> Select[Any]:
    """The payable, unpaid balance, and since when it has stayed at or above the minimum
    (None if it is below): the first entry after the last one that left the running total,
    oldest first, under the minimum. Summed by the database, however many entries wait."""
    unpaid = (LedgerEntry.reseller_id == reseller.id, LedgerEntry.payout_id.is_(None),
              LedgerEntry.payable_at <= now)
    order = (LedgerEntry.payable_at, LedgerEntry.id)
    ranked = select(
        LedgerEntry.payable_at,
        func.sum(LedgerEntry.amount_cents).over(order_by=order, rows=(None, 0)).label("running"),
        func.row_number().over(order_by=order).label("n"),
    ).where(*unpaid).subquery()
    last_below = (select(func.max(ranked.c.n)).where(ranked.c.running < minimum)
                  .scalar_subquery())
    return select(
        select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0)).where(*unpaid)
        .scalar_subquery(),
        select(func.min(ranked.c.payable_at))
        .where(ranked.c.n > func.coalesce(last_below, 0)).scalar_subquery(),
    )


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
        Paragraph(f"Période {payout.period}, calculé le {payout.created_at.date().isoformat()}",
                  styles["Normal"]),
        Paragraph(escape(_transfer_line(payout)), styles["Normal"]),
        Spacer(1, 12),
        table,
    ]
    doc.build(story)
    return out.getvalue()


def _transfer_line(payout: Payout) -> str:
    if payout.batch is not None and payout.iban:
        return (f"Virement SEPA vers {payout.holder}, IBAN {mask_iban(payout.iban)}, "
                f"exécution demandée le {payout.batch.execution_date.isoformat()} "
                f"(fichier {payout.batch.number})")
    if payout.reseller.has_bank_details:
        return (f"Virement SEPA vers IBAN {mask_iban(payout.reseller.bank_iban)} au prochain "
                "fichier de virements")
    return "Virement en attente des coordonnées bancaires du revendeur"
