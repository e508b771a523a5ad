"""The `comptoir wholesaler-sim` command: run a wholesaler simulator in the foreground."""

from __future__ import annotations

from urllib.parse import urlsplit

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from fulfilment.simulators import SIMULATORS, simulator_credentials, start_simulator


@click.command("wholesaler-sim")
@click.argument("name", type=click.Choice(sorted(SIMULATORS)))
@click.option("--port", type=int, default=None,
              help="Port on 127.0.0.1 (default: the port of NEXWAY_URL or ARVATO_URL; 0: any).")
@click.option("--delivery-delay-ms", type=int, default=None,
              help="Nexway only: time from acceptance to delivery and callback.")
@with_appcontext
def wholesaler_sim(name: str, port: int | None, delivery_delay_ms: int | None) -> None:
    """Serve the NAME wholesaler simulator with the credentials the adapters use."""
    config = current_app.config
    if port is None:
        port = urlsplit(config[f"{name.upper()}_URL"]).port or 0
    settings = {}
    if delivery_delay_ms is not None:
        if name != "nexway":
            raise click.UsageError("--delivery-delay-ms applies to nexway only")
        settings["delivery_delay_ms"] = delivery_delay_ms
    try:
        handle = start_simulator(name, port=port, config=settings,
                                 **simulator_credentials(name, config))
    except OSError as exc:
        raise click.ClickException(
            f"the {name} simulator cannot listen on port {port} ({exc.strerror or exc}): "
            f"another program holds it; choose another with --port or "
            f"COMPTOIR_{name.upper()}_URL") from exc
    click.echo(f"{name} simulator listening on {handle.url} (control: {handle.url}/_sim/state)")
    try:
        handle.thread.join()
    finally:
        handle.stop()
        click.echo(f"{name} simulator stopped")


def register_cli(app: Flask) -> None:
    """Add the wholesaler-sim command to the comptoir group."""
    app.cli.add_command(wholesaler_sim)
