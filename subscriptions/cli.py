"""`comptoir subscriptions list|show|renew-due|cancel`."""

from __future__ import annotations

import time
from datetime import datetime

import click
from sqlalchemy import select

from extensions import db, utcnow
from subscriptions.models import Subscription
from subscriptions.services import (
    SubscriptionError,
    cancel_at_period_end,
    charges_of,
    renew_due,
)


def _when(value: str | None) -> datetime:
    if not value:
        return utcnow()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"not an ISO 8601 time: {value!r}") from exc
    if moment.tzinfo is None:
        raise click.BadParameter("give the time zone, e.g. 2027-01-01T00:00:00+00:00")
    return moment


def _find(number: str) -> Subscription:
    sub = db.session.scalar(select(Subscription).where(Subscription.number == number.upper()))
    if sub is None:
        raise click.ClickException(f"no subscription {number}")
    return sub


@click.group("subscriptions")
def subscriptions_cli() -> None:
    """Microsoft 365 subscriptions: renewals, dunning, cancellations."""


@subscriptions_cli.command("list")
@click.option("--status", default=None, help="active, past_due, suspended or ended")
def list_command(status: str | None) -> None:
    """Every subscription, with its seats, term and next renewal."""
    query = select(Subscription).order_by(Subscription.current_period_end)
    if status:
        query = query.where(Subscription.status == status)
    for sub in db.session.scalars(query):
        term = "monthly" if sub.term_months == 1 else "annual"
        ends = "ends" if sub.cancel_at_period_end else "renews"
        click.echo(f"{sub.number}  {sub.status:<9} {sub.seats:>3} users  {term:<7} "
                   f"{ends} {sub.current_period_end:%Y-%m-%d}  {sub.email}")


@subscriptions_cli.command("show")
@click.argument("number")
def show_command(number: str) -> None:
    """One subscription: items, charges and history."""
    sub = _find(number)
    click.echo(f"{sub.number} ({sub.status}), {sub.email}, term {sub.term_months} month(s), "
               f"{sub.current_period_start:%Y-%m-%d} → {sub.current_period_end:%Y-%m-%d}"
               + (", cancelled at the end of the term" if sub.cancel_at_period_end else ""))
    for item in sub.items:
        click.echo(f"  {item.seats} × {item.product_name} at {item.unit_price_cents / 100:.2f} "
                   f"{sub.currency} per user and term")
    for charge, order in charges_of(sub):
        click.echo(f"  charge {charge.kind} {charge.period_start:%Y-%m-%d}: {charge.status}, "
                   f"order {order.number} {order.total_cents / 100:.2f} {order.currency}"
                   + (f" ({charge.last_error})" if charge.last_error else ""))
    for entry in sub.history:
        click.echo(f"  {entry.created_at:%Y-%m-%d %H:%M} {entry.kind}: {entry.detail}")


@subscriptions_cli.command("renew-due")
@click.option("--now", "now_text", default=None, help="ISO 8601 time to act as of")
@click.option("--loop", "interval", type=float, default=None,
              help="Again every INTERVAL seconds until stopped (development's stand-in for the "
                   "hourly job).")
def renew_due_command(now_text: str | None, interval: float | None) -> None:
    """End what was cancelled, charge what is due, suspend what stayed unpaid (hourly job)."""
    if interval is not None and now_text:
        raise click.UsageError("--loop runs on the real clock: leave out --now")
    while True:
        report = renew_due(_when(now_text))
        if interval is None or any(vars(report).values()):
            click.echo(f"renewed {report.renewed}, declined {report.failed}, ended "
                       f"{report.ended}, suspended {report.suspended}, waiting {report.waiting}")
        if interval is None:
            return
        db.session.remove()  # a fresh session for each round of the loop
        time.sleep(interval)


@subscriptions_cli.command("cancel")
@click.argument("number")
def cancel_command(number: str) -> None:
    """Stop the renewal: the subscription ends with its paid term."""
    sub = _find(number)
    try:
        cancel_at_period_end(sub, actor="cli")
    except SubscriptionError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{sub.number} ends on {sub.current_period_end:%Y-%m-%d}")
