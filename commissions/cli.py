"""Commands: `comptoir payouts run|sepa`, `comptoir commissions ...`,
`comptoir resellers create|bank-details|set-role|...`; `comptoir programmes ...` lives in
programme_cli."""

from __future__ import annotations

import json
from datetime import datetime

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from commerce.models import Partner
from commissions.errors import CommissionError
from commissions.models import Reseller
from extensions import db

# Who changes things from the command line, in audit rows.
ACTOR = "cli"


def _parse_now(value: str | None, param: str = "--now") -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter("an ISO time, e.g. 2026-03-15T09:00:00+00:00",
                                 param_hint=param) from exc
    if when.tzinfo is None:
        raise click.BadParameter("give a time zone, e.g. 2026-03-15T09:00:00+00:00",
                                 param_hint=param)
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

    partner = _partner(partner_slug)
    try:
        reseller = create_reseller(partner, name, email, code=code, password=password)
    except CommissionError as exc:
        raise click.ClickException(str(exc)) from exc
    login = " with a login" if reseller.user_id else ""
    click.echo(f"reseller {reseller.code} ({reseller.name}) created in {partner.slug}{login}")


def _network_reseller(code: str) -> Reseller:
    from commissions.programmes import reseller_by_code

    reseller = reseller_by_code(code)
    if reseller is None:
        raise click.ClickException(f"no reseller {code!r}")
    return reseller


def _partner(slug: str) -> Partner:
    partner = db.session.scalar(select(Partner).where(Partner.slug == slug))
    if partner is None:
        raise click.ClickException(f"no partner {slug!r}")
    return partner


@resellers_cli.command("set-role")
@click.argument("code")
@click.argument("role", type=click.Choice(["direct", "distributor", "indirect"]))
@click.option("--distributor", "distributor_code", default=None,
              help="Referral code of an indirect reseller's distributor.")
@click.option("--reason", default="", help="Why, for the audit.")
@with_appcontext
def resellers_set_role(code: str, role: str, distributor_code: str | None, reason: str) -> None:
    """Make a reseller direct, a distributor, or indirect through a distributor (audited)."""
    from commissions.channel import set_programme_role

    reseller = _network_reseller(code)
    try:
        change = set_programme_role(reseller, role, distributor_code, ACTOR, reason)
    except CommissionError as exc:
        raise click.ClickException(str(exc)) from exc
    via = f" through {reseller.distributor.code}" if reseller.distributor else ""
    click.echo(f"{reseller.code} is {reseller.programme_role}{via}"
               + ("" if change else " (unchanged)"))


@resellers_cli.command("set-language")
@click.argument("code")
@click.argument("locale", type=click.Choice(["fr", "en"]))
@with_appcontext
def resellers_set_language(code: str, locale: str) -> None:
    """Set the language of a reseller's portal and digest e-mail (audited)."""
    from commissions.channel import set_language

    reseller = _network_reseller(code)
    try:
        change = set_language(reseller, locale, ACTOR)
    except CommissionError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{reseller.code} speaks {reseller.locale}" + ("" if change else " (unchanged)"))


@resellers_cli.command("network")
@click.argument("code")
@with_appcontext
def resellers_network(code: str) -> None:
    """Print a distributor's indirect resellers, their sales and both shares, with totals."""
    from commissions.channel import distributor_network

    reseller = _network_reseller(code)
    if reseller.programme_role != "distributor":
        raise click.ClickException(f"{reseller.code} is not a distributor")
    network = distributor_network(reseller)
    cur = network.currency
    click.echo(f"{'reseller':<10} {'sales':>5} {'net sales':>12} {'their share':>12}"
               f" {'your share':>12}  ({cur}; distributor share now {network.share_text})")
    for row in network.rows:
        click.echo(f"{row.code:<10} {row.sales:>5} {row.net_sales_cents / 100:>12.2f}"
                   f" {row.seller_cents / 100:>12.2f} {row.distributor_cents / 100:>12.2f}")
    click.echo(f"{'total':<10} {network.total('sales'):>5}"
               f" {network.total('net_sales_cents') / 100:>12.2f}"
               f" {network.total('seller_cents') / 100:>12.2f}"
               f" {network.total('distributor_cents') / 100:>12.2f}")


@resellers_cli.command("benefits")
@click.option("--now", "now_text", default=None, help="Run as of this ISO time (with zone).")
@with_appcontext
def resellers_benefits(now_text: str | None) -> None:
    """Grant newcomers their free year and decide each anniversary due (once each)."""
    from commissions.benefits import run_benefits

    decisions = run_benefits(_parse_now(now_text))
    for d in decisions:
        price = f"  billed {d.price_cents / 100:.2f} {d.currency}" if d.status == "billed" else ""
        sales = "" if d.sales_counted is None else f"  {d.sales_counted} sale(s) counted"
        click.echo(f"{d.reseller_code:<10} year {d.year} from {d.starts_at.date().isoformat()}"
                   f"  {d.status}{sales}{price}  {d.outcome}")
    decided = sum(d.outcome != "already_decided" for d in decisions)
    click.echo(f"{decided} benefit year(s) decided")


@commissions_cli.command("set-split")
@click.argument("partner_slug")
@click.argument("share")
@with_appcontext
def commissions_set_split(partner_slug: str, share: str) -> None:
    """Set the distributor's share of an indirect reseller's margin (0.30 or 30%), audited."""
    from commissions.channel import parse_share, set_distributor_share
    from commissions.rules import percent

    partner = _partner(partner_slug)
    try:
        before = set_distributor_share(partner, parse_share(share), ACTOR)
    except CommissionError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{partner.slug}: distributor share {percent(before)}"
               f" -> {percent(parse_share(share))}")


@commissions_cli.command("set-benefit")
@click.argument("partner_slug")
@click.option("--name", required=True, help='e.g. "Microsoft 365 Business Standard, 5 users".')
@click.option("--price", required=True, help="Public price excluding VAT, in euros (125.00).")
@click.option("--starts", "starts_text", required=True,
              help="From when new resellers get it (ISO time with zone).")
@with_appcontext
def commissions_set_benefit(partner_slug: str, name: str, price: str, starts_text: str) -> None:
    """Define the newcomer offer: a self-use benefit free for a new reseller's first year."""
    from commissions.benefits import set_benefit
    from partners.validation import PartnerError, parse_price

    partner = _partner(partner_slug)
    try:
        cents = parse_price(price)
    except PartnerError as exc:
        raise click.BadParameter("a price in euros, e.g. 125.00", param_hint="--price") from exc
    starts = _parse_now(starts_text, "--starts")
    assert starts is not None
    try:
        programme = set_benefit(partner, name, cents, starts, ACTOR)
    except CommissionError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{partner.slug}: {programme.benefit_name}, public price {cents / 100:.2f}"
               f" {programme.currency}, for resellers joining from {starts.isoformat()}")
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


def _programmes() -> click.Group:
    from commissions.programme_cli import programmes_cli

    return programmes_cli


COMMANDS = (payouts_cli, commissions_cli, resellers_cli, _programmes())
