"""`comptoir vault ...`: bucket set-up, key rotation, purge, erasure and retries."""

from __future__ import annotations

import getpass

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import func, select

from backups.vault.errors import VaultError
from backups.vault.lifecycle import (
    RETRY_BATCH,
    erase_buyer,
    keys_in_use,
    purge_expired,
    retry_pending_backups,
    rotate_vault_key,
)
from backups.vault.models import Backup, VaultAlert
from backups.vault.runtime import get_keyring, get_store
from backups.vault.storage import S3Store
from extensions import db

vault_cli = AppGroup("vault", help="The two-year licence backup vault.")


@vault_cli.command("init-bucket")
@click.option("--create", is_flag=True, help="Create the bucket if it does not exist.")
@click.option("--object-lock", is_flag=True, help="With --create: enable Object Lock on it.")
def init_bucket_command(create: bool, object_lock: bool) -> None:
    """Set the bucket's 730-day lifecycle rule (and create the bucket if asked)."""
    store = get_store()
    if not isinstance(store, S3Store):
        click.echo(f"disk backend ({current_app.config['VAULT_DIR']}): no bucket; "
                   "the purge job enforces expiry")
        return
    try:
        for line in store.init_bucket(create=create, object_lock=object_lock):
            click.echo(line)
    except VaultError as exc:
        raise click.ClickException(str(exc)) from exc


@vault_cli.command("rotate-key")
def rotate_key_command() -> None:
    """Rewrap every data key under the first key of COMPTOIR_VAULT_KEY."""
    try:
        count = rotate_vault_key()
    except VaultError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"rewrapped {count} data keys under vault key {get_keyring().active_id}")
    for key_id, n in sorted(keys_in_use().items()):
        click.echo(f"  {key_id}: {n} backups")


@vault_cli.command("purge")
@click.option("--dry-run", is_flag=True, help="List what would be purged; change nothing.")
def purge_command(dry_run: bool) -> None:
    """Delete the objects of expired backups (rows kept as purged)."""
    backups = purge_expired(dry_run=dry_run)
    verb = "would purge" if dry_run else "purged"
    for backup in backups:
        click.echo(f"{verb} {backup.id} partner={backup.partner} "
                   f"expired={backup.expires_at:%Y-%m-%d}")
    click.echo(f"{verb} {len(backups)} backups")


@vault_cli.command("erase")
@click.option("--buyer", "buyer", required=True, help="The buyer's e-mail address.")
@click.option("--by", "actor", default=None, help="Who asks (recorded); default: cli:<user>.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def erase_command(buyer: str, actor: str | None, yes: bool) -> None:
    """Erase a buyer's backups (objects deleted, keys destroyed; invoices are not touched)."""
    if not yes:
        click.confirm(f"Erase every licence backup of {buyer}? This cannot be undone", abort=True)
    count = erase_buyer(buyer, actor_id=actor or f"cli:{_user()}")
    click.echo(f"erased {count} backups")


@vault_cli.command("retry-pending")
@click.option(
    "--due-only",
    is_flag=True,
    help="Only backups whose retry time has come (what the periodic job does).",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help=f"Try at most this many (default: every pending backup; {RETRY_BATCH} with --due-only).",
)
def retry_pending_command(due_only: bool, limit: int | None) -> None:
    """Upload backups still waiting for the object store: every one of them, now."""
    report = retry_pending_backups(
        due_only=due_only, limit=limit or (RETRY_BATCH if due_only else None)
    )
    click.echo(
        f"pending backups: {report.stored} stored, {report.failed} failed, "
        f"{report.waiting} still pending"
    )


@vault_cli.command("status")
def status_command() -> None:
    """Show backups by status, data keys by vault key, and unacknowledged alerts."""
    for status, n in db.session.execute(
        select(Backup.status, func.count()).group_by(Backup.status).order_by(Backup.status)
    ):
        click.echo(f"{status}: {n}")
    for key_id, n in sorted(keys_in_use().items()):
        click.echo(f"vault key {key_id}: {n} data keys")
    alerts = db.session.scalar(
        select(func.count()).select_from(VaultAlert).where(VaultAlert.acknowledged_at.is_(None))
    )
    click.echo(f"open alerts: {alerts}")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
