"""`comptoir refunds …`: the refund sweep by hand or in a loop, and a refund from the shell."""

from __future__ import annotations

import time
import uuid

import click
from flask import Flask
from flask.cli import with_appcontext

from extensions import db


@click.group("refunds")
def refunds_group() -> None:
    """Refunds: ask pending ones again, refund an order from the command line."""


@refunds_group.command("retry")
@click.option("--loop", "interval", type=float, default=None,
              help="Again every INTERVAL seconds until stopped.")
@with_appcontext
def retry_command(interval: float | None) -> None:
    """Ask the gateway again for refunds whose answer was lost; finish their effects."""
    from payments.refunds import retry_due

    while True:
        done = retry_due()
        if done or interval is None:
            click.echo(f"refunds: {done} moved on")
        if interval is None:
            return
        db.session.remove()  # a fresh session for each round of the loop
        time.sleep(interval)


@refunds_group.command("order")
@click.argument("order_id")
@click.option("--line", "line_ids", multiple=True, help="An order line to refund (repeatable);"
              " none: everything left.")
@click.option("--reason", required=True)
@click.option("--actor", required=True, help="Who asks, for the audit (operator:<e-mail>).")
@with_appcontext
def order_command(order_id: str, line_ids: tuple[str, ...], reason: str, actor: str) -> None:
    """Refund an order, whole or some lines, through its payment gateway."""
    from payments import refunds

    try:
        refund = refunds.refund_order(uuid.UUID(order_id),
                                      [uuid.UUID(i) for i in line_ids] or None, actor, reason)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    except refunds.RefundDelayed as exc:
        raise click.ClickException(f"the gateway did not answer ({exc}); the refund is kept "
                                   "and asked again by `comptoir refunds retry`") from exc
    click.echo(f"refund {refund.sequence} of {refund.amount_cents} cents: {refund.status} "
               f"({refund.gateway_reference})")


def init_app(app: Flask) -> None:
    app.cli.add_command(refunds_group)
