"""`comptoir webhooks add|list|rotate|disable|enable|deliveries|attempts|replay|send-due`."""

from __future__ import annotations

import sys
import uuid

import click
from flask import Flask
from flask.cli import with_appcontext
from sqlalchemy import select

from commerce.models import Partner
from extensions import db
from webhooks import services
from webhooks.models import EVENT_TYPES, WebhookDelivery, WebhookEndpoint


@click.group("webhooks")
def webhooks_group() -> None:
    """Partners' webhook endpoints, their deliveries and replays."""


def _partner(slug: str) -> Partner:
    partner = db.session.scalar(select(Partner).where(Partner.slug == slug))
    if partner is None:
        raise click.ClickException(f"no partner {slug!r}")
    return partner


def _endpoint(endpoint_id: uuid.UUID) -> WebhookEndpoint:
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise click.ClickException(f"no endpoint {endpoint_id}")
    return endpoint


@webhooks_group.command("add")
@click.argument("slug")
@click.argument("url")
@click.option("--event", "events", multiple=True, type=click.Choice(EVENT_TYPES),
              help="An event to send (repeatable; all by default).")
@click.option("--description", default="")
@with_appcontext
def add(slug: str, url: str, events: tuple[str, ...], description: str) -> None:
    """Add an endpoint for the partner SLUG; prints its signing secret (shown only this once)."""
    try:
        endpoint, secret = services.create_endpoint(_partner(slug), url, actor="cli",
                                                    events=list(events),
                                                    description=description)
    except services.WebhookError as exc:
        db.session.rollback()
        for field, message in exc.english().items():
            click.echo(f"{field}: {message}", err=True)
        sys.exit(1)
    db.session.commit()
    click.echo(f"endpoint {endpoint.id}: {', '.join(endpoint.events)}")
    click.echo(f"signing secret (shown once): {secret}")


@webhooks_group.command("list")
@click.argument("slug")
@with_appcontext
def list_endpoints(slug: str) -> None:
    for endpoint in services.endpoints_of(_partner(slug)):
        state = "active" if endpoint.active else "disabled"
        click.echo(f"{endpoint.id}  {state:<8}  {endpoint.url}  {','.join(endpoint.events)}")


@webhooks_group.command("rotate")
@click.argument("endpoint_id", type=click.UUID)
@click.option("--overlap-hours", default=24, show_default=True,
              help="How long the previous secret still signs beside the new one.")
@with_appcontext
def rotate(endpoint_id: uuid.UUID, overlap_hours: int) -> None:
    """Give an endpoint a new signing secret (printed once); the old one signs for a while."""
    from datetime import timedelta

    secret = services.rotate_secret(_endpoint(endpoint_id),
                                    overlap=timedelta(hours=overlap_hours))
    db.session.commit()
    click.echo(f"new signing secret (shown once): {secret}")


@webhooks_group.command("disable")
@click.argument("endpoint_id", type=click.UUID)
@with_appcontext
def disable(endpoint_id: uuid.UUID) -> None:
    services.set_active(_endpoint(endpoint_id), False)
    db.session.commit()
    click.echo("disabled")


@webhooks_group.command("enable")
@click.argument("endpoint_id", type=click.UUID)
@with_appcontext
def enable(endpoint_id: uuid.UUID) -> None:
    services.set_active(_endpoint(endpoint_id), True)
    db.session.commit()
    click.echo("enabled")


@webhooks_group.command("deliveries")
@click.argument("slug")
@click.option("--limit", default=50, show_default=True)
@with_appcontext
def deliveries(slug: str, limit: int) -> None:
    """The partner's latest deliveries: when, event, status, attempts, last error."""
    for d in services.deliveries_of(_partner(slug), limit):
        click.echo(f"{d.id}  {d.created_at:%Y-%m-%d %H:%M:%S}  {d.event_type:<16} "
                   f"{d.status:<9} {d.attempts:>2}  {d.last_error or ''}")


@webhooks_group.command("replay")
@click.argument("delivery_id", type=click.UUID)
@with_appcontext
def replay(delivery_id: uuid.UUID) -> None:
    """Send a delivery again now (the same body, a fresh signature)."""
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        raise click.ClickException(f"no delivery {delivery_id}")
    services.replay(delivery)
    db.session.commit()
    click.echo("queued")


@webhooks_group.command("send-due")
@with_appcontext
def send_due() -> None:
    """Try every delivery now due (the scheduler does it every 30 s)."""
    click.echo(f"{services.send_due()} tried")


def init_app(app: Flask) -> None:
    app.cli.add_command(webhooks_group)
