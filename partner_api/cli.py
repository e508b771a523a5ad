"""`comptoir partners api-key|api-keys|revoke-api-key`: partner API keys from the command line,
in the `partners` group of partners/cli.py."""

from __future__ import annotations

import uuid

import click
from flask import Flask
from flask.cli import with_appcontext
from sqlalchemy import select

from commerce.models import Partner
from extensions import db
from partner_api.keys import issue_api_key, list_api_keys, revoke_api_key
from partners.cli import partners_group


def _partner(slug: str) -> Partner:
    """Any partner, open or not: keys can be prepared before a shop opens (they work once it is
    open)."""
    partner = db.session.scalar(select(Partner).where(Partner.slug == slug))
    if partner is None:
        raise click.ClickException(f"no partner {slug!r}")
    return partner


@partners_group.command("api-key")
@click.argument("slug")
@click.option("--label", default="", help="What the key is for, shown in the back office.")
@with_appcontext
def api_key(slug: str, label: str) -> None:
    """Issue an API key for the partner SLUG and print it (it is shown only this once)."""
    click.echo(issue_api_key(_partner(slug), label))


@partners_group.command("api-keys")
@click.argument("slug")
@with_appcontext
def api_keys(slug: str) -> None:
    """List the partner's API keys (prefixes only)."""
    for record in list_api_keys(_partner(slug)):
        state = f"revoked {record.revoked_at:%Y-%m-%d}" if record.revoked_at else "active"
        click.echo(f"{record.id}  {record.prefix}…  {record.created_at:%Y-%m-%d}  {state}  "
                   f"{record.label}")


@partners_group.command("revoke-api-key")
@click.argument("slug")
@click.argument("key_id", type=click.UUID)
@with_appcontext
def revoke(slug: str, key_id: uuid.UUID) -> None:
    """Revoke the API key KEY_ID (from `partners api-keys`) of the partner SLUG."""
    if not revoke_api_key(_partner(slug), key_id):
        raise click.ClickException("no such active key for this partner")
    click.echo("revoked")


def init_app(app: Flask) -> None:
    """Register the `partners` command group, with its API key commands."""
    app.cli.add_command(partners_group)
