"""`comptoir vault remind [--dry-run]`: the reminder job by hand."""

from __future__ import annotations

import click

from backups.reminders import send_reminders


@click.command("remind")
@click.option("--dry-run", is_flag=True, help="List the reminders that are due; send nothing.")
def remind_command(dry_run: bool) -> None:
    """E-mail buyers whose licence backup expires within 30 days (once per expiry date)."""
    outcomes = send_reminders(dry_run=dry_run)
    for o in outcomes:
        verb = "would remind" if dry_run else ("reminded" if o.sent else "NOT reminded")
        detail = f" ({o.detail})" if o.detail and not dry_run else ""
        click.echo(f"{verb} {o.backup_id} partner={o.partner} "
                   f"expires={o.expires_at:%Y-%m-%d}{detail}")
    sent = sum(o.sent for o in outcomes)
    click.echo(f"would send {len(outcomes)} reminders" if dry_run else f"sent {sent} reminders")
    if not dry_run and sent < len(outcomes):
        raise click.ClickException(f"{len(outcomes) - sent} reminders failed; the next run retries")
