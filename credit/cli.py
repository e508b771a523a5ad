"""`comptoir credit …`: statements, transfers received, limits and the accounts' standing."""

from __future__ import annotations

from datetime import date, datetime

import click
from flask import Flask
from flask.cli import with_appcontext
from flask_babel import force_locale
from sqlalchemy import select

from commissions.models import Reseller
from extensions import db, utcnow


@click.group("credit")
def credit_group() -> None:
    """Resellers' credit lines: statements, transfers, limits."""


def _now(text: str | None) -> datetime:
    if text is None:
        return utcnow()
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise click.BadParameter("give a time zone, e.g. 2026-12-01T06:00:00+00:00",
                                 param_hint="--now")
    return moment


def _reseller(code: str) -> Reseller:
    reseller = db.session.scalar(select(Reseller).where(Reseller.code == code.strip().upper()))
    if reseller is None:
        raise click.BadParameter(f"no reseller {code}", param_hint="CODE")
    return reseller


@credit_group.command("statements")
@click.option("--month", "month_text", default=None,
              help="The month, YYYY-MM (default: the month before --now).")
@click.option("--now", "now_text", default=None, help="Run as of this ISO time (with zone).")
@with_appcontext
def statements_command(month_text: str | None, now_text: str | None) -> None:
    """Make each account's statement of a month once and e-mail it to the reseller."""
    from credit.statements import run_statements
    from credit.terms import parse_month

    try:
        month = parse_month(month_text) if month_text else None
        outcomes = run_statements(month, _now(now_text))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    for o in outcomes:
        click.echo(f"{o.reseller_code:<10} {o.number:<24} {o.outcome}")
    click.echo(f"{len(outcomes)} statement(s)")


@credit_group.command("record-transfer")
@click.option("--reference", required=True, help="The structured reference it quotes (RF…).")
@click.option("--bank-reference", required=True, help="The bank's own id of the credit.")
@click.option("--amount", required=True, help="Euros received, e.g. 1234.56.")
@click.option("--received-on", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="The value date (default: today).")
@click.option("--actor", default="cli", help="Who records it (kept with the payment).")
@with_appcontext
def record_transfer_command(reference: str, bank_reference: str, amount: str,
                            received_on: datetime | None, actor: str) -> None:
    """Apply a SEPA transfer received to the credit line it names, once per bank reference."""
    from credit.errors import CreditError
    from credit.payments import record_transfer
    from credit.terms import paris_day, parse_amount

    now = utcnow()
    with force_locale("en"):
        try:
            cents = parse_amount(amount)
            day: date = received_on.date() if received_on else paris_day(now)
            recorded = record_transfer(reference, bank_reference, cents, day, f"cli:{actor}",
                                       now)
        except (CreditError, ValueError) as exc:
            raise click.ClickException(str(exc)) from exc
    payment = recorded.payment
    state = "recorded" if recorded.created else "already recorded"
    click.echo(f"{payment.number} {payment.amount_cents / 100:.2f} {payment.currency} "
               f"{payment.account.reseller.code}: {state}")


@credit_group.command("set-limit")
@click.argument("code")
@click.option("--limit", "limit_text", required=True, help="The limit in euros, e.g. 10000.")
@click.option("--term-days", type=int, default=None, help="Days end of month (0 to 60).")
@click.option("--reason", default="", help="Why (kept in the audit trail).")
@click.option("--actor", default="cli")
@with_appcontext
def set_limit_command(code: str, limit_text: str, term_days: int | None, reason: str,
                      actor: str) -> None:
    """Open a reseller's credit line or change its limit and terms (audited)."""
    from credit.accounts import set_line
    from credit.errors import CreditError
    from credit.terms import parse_amount

    reseller = _reseller(code)
    with force_locale("en"):
        try:
            account = set_line(reseller, limit_cents=parse_amount(limit_text),
                               term_days=term_days, actor=f"cli:{actor}", reason=reason)
        except (CreditError, ValueError) as exc:
            db.session.rollback()
            raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"{reseller.code}: limit {account.limit_cents / 100:.2f} {account.currency}, "
               f"{account.term_days} days end of month, reference {account.reference}")


@credit_group.command("accounts")
@click.option("--overdue", is_flag=True, help="Only the accounts with a balance overdue.")
@with_appcontext
def accounts_command(overdue: bool) -> None:
    """Each credit line: limit, extras, outstanding, available, overdue."""
    from credit.accounts import all_accounts, standing

    now = utcnow()
    for account in all_accounts():
        s = standing(account, now)
        if overdue and not s.overdue_cents:
            continue
        click.echo(f"{account.reseller.code:<10} limit {s.limit_cents / 100:>10.2f} "
                   f"extras {s.extras_cents / 100:>10.2f} outstanding "
                   f"{s.outstanding_cents / 100:>10.2f} available {s.available_cents / 100:>10.2f}"
                   f" overdue {s.overdue_cents / 100:>10.2f}")


def init_app(app: Flask) -> None:
    app.cli.add_command(credit_group)
