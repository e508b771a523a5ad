"""Commands: `comptoir payouts run`, `comptoir commissions ...`, `comptoir resellers create`;
`comptoir programmes ...` lives in programme_cli."""

from __future__ import annotations

import json
from datetime import datetime

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from commerce.models import Partner
from commissions.errors import CommissionError
from extensions import db


def _parse_now(value: str | None) -> datetime | None:
    if value is None:
        return None
    when = datetime.fromisoformat(value)
    if when.tzinfo is None:
        raise click.BadParameter("give a time zone, e.g. 2026-03-15T09:00:00+00:00",
                                 param_hint="--now")
    return when


@click.group("payouts")
def payouts_cli() -> None:
    """Reseller payouts."""


@payouts_cli.command("run")
@click.option("--now", "now_text", default=None, help="Run as of this ISO time (with zone).")
@with_appcontext
def payouts_run(now_text: str | None) -> None:
    """Pay every reseller whose payable balance reaches the minimum."""
    from commissions.payouts import run_payouts

    payouts = run_payouts(_parse_now(now_text))
    for p in payouts:
        click.echo(f"{p.number}  {p.reseller.code:<10} {p.amount_cents / 100:>10.2f} {p.currency}"
                   f"  period {p.period}")
    click.echo(f"{len(payouts)} payout(s) made")


@click.group("commissions")
def commissions_cli() -> None:
    """Reseller commissions: explanations and demo programme."""


@commissions_cli.command("explain")
@click.argument("order_number")
@with_appcontext
def commissions_explain(order_number: str) -> None:
    """Print each ledger entry of an order with its rule, rate and arithmetic."""
    from commissions.reports import explain_order

    try:
        lines = explain_order(order_number)
    except CommissionError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("\n".join(lines))


@commissions_cli.command("seed-demo")
@click.argument("partner_slug")
@with_appcontext
def commissions_seed_demo(partner_slug: str) -> None:
    """Give a partner a demo programme and two demo resellers with logins."""
    from commissions.demo import seed_demo

    try:
        result = seed_demo(partner_slug)
    except LookupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(result, indent=2, ensure_ascii=False))


@click.group("resellers")
def resellers_cli() -> None:
    """Resellers of the partners' networks."""


@resellers_cli.command("create")
@click.option("--partner", "partner_slug", required=True, help="Slug of the network's partner.")
@click.option("--name", required=True)
@click.option("--email", required=True)
@click.option("--code", default=None, help="Referral code (default: a fresh RP-XXXX).")
@click.option("--password", default=None, help="Create a reseller login with this password.")
@with_appcontext
def resellers_create(partner_slug: str, name: str, email: str, code: str | None,
                     password: str | None) -> None:
    """Create a reseller in a partner's network, with a login if a password is given."""
    from commissions.programmes import create_reseller

    partner = db.session.scalar(select(Partner).where(Partner.slug == partner_slug))
    if partner is None:
        raise click.ClickException(f"no partner {partner_slug!r}")
    try:
        reseller = create_reseller(partner, name, email, code=code, password=password)
    except CommissionError as exc:
        raise click.ClickException(str(exc)) from exc
    login = " with a login" if reseller.user_id else ""
    click.echo(f"reseller {reseller.code} ({reseller.name}) created in {partner.slug}{login}")


def _programmes() -> click.Group:
    from commissions.programme_cli import programmes_cli

    return programmes_cli


COMMANDS = (payouts_cli, commissions_cli, resellers_cli, _programmes())
