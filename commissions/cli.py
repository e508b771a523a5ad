"""Commands: `comptoir payouts run|sepa`, `comptoir commissions ...`,
`comptoir resellers create|bank-details`."""

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
    from commissions.errors import PayoutFileError
    from commissions.payouts import run_payouts

    try:
        payouts = run_payouts(_parse_now(now_text))
    except PayoutFileError as exc:
        raise click.ClickException(f"payouts are made but not filed: {exc}") from exc
    for p in payouts:
        filed = f"file {p.batch.number}" if p.batch else "waiting for bank details"
        click.echo(f"{p.number}  {p.reseller.code:<10} {p.amount_cents / 100:>10.2f} {p.currency}"
                   f"  period {p.period}  {filed}")
    click.echo(f"{len(payouts)} payout(s) made")


@payouts_cli.command("sepa")
@click.argument("reference")
@click.option("--output", "output", required=True, type=click.Path(dir_okay=False),
              help="Write the pain.001 XML here ('-' for standard output).")
@with_appcontext
def payouts_sepa(reference: str, output: str) -> None:
    """Write the SEPA credit-transfer file SEPA-YYYY-NNNNNN, or the one of a day (YYYY-MM-DD)."""
    from commissions.payouts import batch_by_reference

    batches = batch_by_reference(reference)
    if not batches:
        raise click.ClickException(f"no payout file {reference!r} (give SEPA-YYYY-NNNNNN or "
                                   "the execution day as YYYY-MM-DD)")
    if len(batches) > 1:
        names = ", ".join(b.number for b in batches)
        raise click.ClickException(f"{len(batches)} files on {reference}: {names}; name one")
    [batch] = batches
    with click.open_file(output, "wb") as out:
        out.write(batch.xml)
    click.echo(f"{batch.number}: {batch.transfers} transfer(s), {batch.total_cents / 100:.2f} "
               f"{batch.currency}, execution {batch.execution_date.isoformat()} -> {output}",
               err=output == "-")


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


@resellers_cli.command("bank-details")
@click.argument("code")
@click.option("--iban", required=True)
@click.option("--bic", required=True)
@click.option("--holder", required=True, help="The account holder's name, as the bank knows it.")
@with_appcontext
def resellers_bank_details(code: str, iban: str, bic: str, holder: str) -> None:
    """Set the bank account a reseller's payouts go to (checked; nothing stored if wrong)."""
    from flask_babel import force_locale

    from commissions.bank import mask_iban, set_bank_details
    from commissions.programmes import reseller_by_code

    with force_locale("en"):
        reseller = reseller_by_code(code)
        if reseller is None:
            raise click.ClickException(f"no reseller {code!r}")
        try:
            details = set_bank_details(reseller, iban, bic, holder, actor="cli")
        except CommissionError as exc:
            problems = getattr(exc, "problems", None)
            if problems:
                raise click.ClickException("bank details refused, nothing stored:\n" + "\n".join(
                    f"  --{field}: {why}" for field, why in problems.items())) from exc
            raise click.ClickException(str(exc)) from exc
    click.echo(f"reseller {reseller.code}: payouts go to {details.holder}, IBAN "
               f"{mask_iban(details.iban)}, BIC {details.bic}")


COMMANDS = (payouts_cli, commissions_cli, resellers_cli)
