"""`comptoir vat …`: the rates in force, the local VIES, held orders, the OSS return."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import click
from flask import Flask, current_app
from flask.cli import with_appcontext


@click.group("vat")
def vat_group() -> None:
    """VAT by country: rates, VIES, orders held for VIES, the quarterly OSS return."""


@vat_group.command("rates")
@click.option("--on", "day", default=None, help="The rates in force that day (YYYY-MM-DD).")
def rates_command(day: str | None) -> None:
    """Print the standard rate of each member state and where the table comes from."""
    from datetime import date

    from commerce.tax import eu_countries, rates_source, standard_rate

    try:
        when = date.fromisoformat(day) if day else None
    except ValueError as exc:
        raise click.BadParameter("give a date as YYYY-MM-DD", param_hint="--on") from exc
    for country in eu_countries():
        click.echo(f"{country}  {standard_rate(country, when):>6} %")
    click.echo(f"source: {rates_source()}")


@vat_group.command("recheck")
@with_appcontext
def recheck_command() -> None:
    """Ask VIES again about orders held for it; release those it answers for."""
    from payments.held import recheck_held_orders

    report = recheck_held_orders()
    click.echo(f"held orders: {report.released} released, {report.still_held} still waiting")


@vat_group.command("vies-sim")
@click.option("--port", type=int, default=None,
              help="Port on 127.0.0.1 (default: the port of COMPTOIR_VIES_URL; 0: any).")
@click.option("--down", multiple=True, metavar="STATE",
              help="Play a member state's register (DE, EL…) or all (*) as unavailable.")
@click.option("--unregistered", multiple=True, metavar="NUMBER",
              help="A VAT number VIES says is not registered (repeatable).")
@with_appcontext
def vies_sim_command(port: int | None, down: tuple[str, ...],
                     unregistered: tuple[str, ...]) -> None:
    """Serve the local VIES simulator in the foreground."""
    from commerce.vies_simulator import ViesHandle

    if port is None:
        port = urlsplit(str(current_app.config["VIES_URL"])).port or 0
    try:
        handle = ViesHandle(port)
    except OSError as exc:
        raise click.ClickException(f"the VIES simulator cannot listen on port {port}: "
                                   f"{exc.strerror}") from exc
    handle.simulator.down.update(s.upper() for s in down)
    handle.simulator.unregistered.update(n.replace(" ", "").upper() for n in unregistered)
    click.echo(f"VIES simulator listening on {handle.url}/check-vat-number")
    try:
        while handle.thread.is_alive():
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        handle.stop()
        click.echo("VIES simulator stopped")


@vat_group.command("oss-return")
@click.argument("quarter")
@click.option("--merchant", default=None,
              help="One merchant of record: platform, or the slug of a partner selling in its "
                   "own name (default: all).")
@click.option("--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the CSV here instead of printing it.")
@with_appcontext
def oss_return_command(quarter: str, merchant: str | None, output: str | None) -> None:
    """The QUARTER's OSS return (2026-Q4) as CSV: per merchant, member state and rate."""
    from invoicing import oss

    if merchant is not None and merchant not in oss.merchants():
        raise click.BadParameter(f"no merchant {merchant!r}: give one of "
                                 f"{', '.join(oss.merchants())}", param_hint="--merchant")
    try:
        rows = oss.oss_return(quarter, merchant)
    except oss.QuarterError as exc:
        raise click.BadParameter(str(exc), param_hint="QUARTER") from exc
    text = oss.as_csv(rows)
    if output is None:
        click.echo(text, nl=False)
        return
    with open(output, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
    click.echo(f"{len(rows)} rows written to {output}", err=True)


def init_app(app: Flask) -> None:
    app.cli.add_command(vat_group)
