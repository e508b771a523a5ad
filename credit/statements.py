"""Monthly statements: one per account and month, made once the month is over, kept as HTML
and CSV, e-mailed to the reseller once.

The statement is unique by (account, month): a second run, or two at once, finds the first. Its
e-mail is claimed by a unique key in `outgoing_emails` (`credit-statement:<id>`) before it goes
out, as the reseller digest's; a failed send gives the claim back and the next run sends it.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from datetime import date, datetime

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from commissions.reports import safe_cell
from credit.accounts import Standing, standing
from credit.models import CreditAccount, CreditEntry, CreditStatement
from credit.terms import grouped, month_bounds, month_of, previous_month
from extensions import db
from fulfilment.mail import Mail, send_mail
from reseller.digest import claim_email, portal_url, release_email

log = logging.getLogger("comptoir.credit")

KIND = "credit_statement"
CSV_FIELDS = ("booked_at", "kind", "description", "amount", "currency", "due_on")


@dataclass(frozen=True)
class StatementOutcome:
    reseller_code: str
    number: str
    outcome: str  # made, existed; then sent, already_sent, failed


@dataclass(frozen=True)
class BankDetails:
    holder: str
    iban: str
    bic: str


def bank_details() -> BankDetails:
    cfg = current_app.config
    return BankDetails(cfg["CREDIT_ACCOUNT_HOLDER"], cfg["CREDIT_IBAN"], cfg["CREDIT_BIC"])


def _cents(value: int) -> str:
    return f"{'-' if value < 0 else ''}{abs(value) // 100}.{abs(value) % 100:02d}"


def statement_number(account: CreditAccount, month: date) -> str:
    return f"RL-{account.reseller.code}-{month:%Y-%m}"


@dataclass(frozen=True)
class Contents:
    month: date
    opening_cents: int
    entries: list[CreditEntry]
    closing: Standing

    @property
    def charges_cents(self) -> int:
        return sum(e.amount_cents for e in self.entries if e.amount_cents > 0)

    @property
    def credits_cents(self) -> int:
        return -sum(e.amount_cents for e in self.entries if e.amount_cents < 0)


def contents(account: CreditAccount, month: date) -> Contents:
    start, end = month_bounds(month)
    entries = list(db.session.scalars(select(CreditEntry).where(
        CreditEntry.account_id == account.id, CreditEntry.booked_at >= start,
        CreditEntry.booked_at < end).order_by(CreditEntry.booked_at, CreditEntry.id)))
    opening = sum(db.session.scalars(select(CreditEntry.amount_cents).where(
        CreditEntry.account_id == account.id, CreditEntry.booked_at < start)))
    return Contents(month, opening, entries, standing(account, end, as_of=True))


def statement_csv(account: CreditAccount, found: Contents) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_FIELDS)
    writer.writerow(["", "opening", "", _cents(found.opening_cents), account.currency, ""])
    for e in found.entries:
        writer.writerow([e.booked_at.isoformat(), e.kind, safe_cell(e.description),
                         _cents(e.amount_cents), e.currency,
                         e.due_on.isoformat() if e.due_on else ""])
    writer.writerow(["", "closing", "", _cents(found.closing.outstanding_cents),
                     account.currency, ""])
    for due in found.closing.dues:
        writer.writerow(["", "overdue" if due.overdue else "due", "", _cents(due.amount_cents),
                         account.currency, due.on.isoformat()])
    return out.getvalue()


def _render(template: str, account: CreditAccount, found: Contents, number: str) -> str:
    partner = account.reseller.partner
    return render_template(template, account=account, reseller=account.reseller,
                           partner=partner, found=found, number=number, bank=bank_details(),
                           reference=grouped(account.reference),
                           portal_url=portal_url(partner))


def make_statement(account: CreditAccount, month: date, now: datetime) -> tuple[
        CreditStatement, bool]:
    """The account's statement of a finished month, made now if it was not; commits."""
    if month_bounds(month)[1] > now:
        raise ValueError(f"{month:%Y-%m} is not over yet: its statement is made from the 1st "
                         "of the next month")
    known = _statement(account, month)
    if known is not None:
        return known, False
    found = contents(account, month)
    number = statement_number(account, month)
    with force_locale(current_app.config["DEFAULT_LOCALE"]):
        html = _render("reseller/credit_statement.html", account, found, number)
    statement = CreditStatement(
        account_id=account.id, month=month, number=number, opening_cents=found.opening_cents,
        charges_cents=found.charges_cents, credits_cents=found.credits_cents,
        closing_cents=found.closing.outstanding_cents,
        overdue_cents=found.closing.overdue_cents, html=html,
        csv=statement_csv(account, found), created_at=now)
    try:
        with db.session.begin_nested():
            db.session.add(statement)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        known = _statement(account, month)
        if known is None:
            raise
        return known, False
    return statement, True


def _statement(account: CreditAccount, month: date) -> CreditStatement | None:
    return db.session.scalar(select(CreditStatement).where(
        CreditStatement.account_id == account.id, CreditStatement.month == month))


def _has_activity(account: CreditAccount, month: date) -> bool:
    """A statement is owed for a month with entries, or with a balance still open at its end."""
    start, end = month_bounds(month)
    rows = db.session.execute(select(CreditEntry.amount_cents, CreditEntry.booked_at).where(
        CreditEntry.account_id == account.id, CreditEntry.booked_at < end)).all()
    return any(booked >= start for _amount, booked in rows) or sum(a for a, _b in rows) != 0


def email_statement(statement: CreditStatement, now: datetime) -> str:
    """E-mail a statement to its reseller once; sent, already_sent or failed."""
    key = f"credit-statement:{statement.id}"
    if statement.emailed_at is not None:
        return "already_sent"
    account = statement.account
    partner = account.reseller.partner
    with force_locale(current_app.config["DEFAULT_LOCALE"]):
        found = contents(account, statement.month)
        subject = _("Credit line statement %(number)s", number=statement.number)
        text = _render("reseller/emails/credit_statement.txt", account, found, statement.number)
    mail = Mail(to=account.reseller.email, subject=f"{partner.name} · {subject}", text=text,
                html=statement.html, reply_to=partner.support_email or None)
    if not claim_email(key, now, KIND):
        return "already_sent"
    try:
        send_mail(mail)
    except Exception as exc:  # noqa: BLE001 - any failure: give the claim back for the next run
        release_email(key, exc)
        return "failed"
    statement.emailed_at = now
    db.session.commit()
    return "sent"


def run_statements(month: date | None, now: datetime) -> list[StatementOutcome]:
    """Make and e-mail every account's statement of a month (default: the one before `now`)."""
    month = month or previous_month(month_of(now))
    outcomes: list[StatementOutcome] = []
    accounts = db.session.scalars(select(CreditAccount).order_by(CreditAccount.reference)).all()
    for account in accounts:
        if _statement(account, month) is None and not _has_activity(account, month):
            continue
        statement, made = make_statement(account, month, now)
        sent = email_statement(statement, now)
        outcomes.append(StatementOutcome(account.reseller.code, statement.number,
                                         f"{'made' if made else 'existed'}, {sent}"))
    return outcomes


def statements_of(account: CreditAccount) -> list[CreditStatement]:
    return list(db.session.scalars(select(CreditStatement).where(
        CreditStatement.account_id == account.id).order_by(CreditStatement.month.desc())))
