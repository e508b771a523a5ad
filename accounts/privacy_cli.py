"""`comptoir users export|erase|finance EMAIL`, `comptoir privacy retention` (docs/privacy.md)."""

from __future__ import annotations

import getpass
import json
from typing import TextIO

import click
from flask.cli import with_appcontext

from accounts.privacy import (
    PrivacyError,
    erase,
    export_data,
    set_finance,
    subject_for_email,
)
from accounts.retention import run_retention
from accounts.services import user_by_email
from extensions import db


def _actor(given: str | None) -> str:
    return given or f"cli:{getpass.getuser()}"


@click.command("export")
@click.argument("email")
@click.option("--output", "-o", type=click.File("w", encoding="utf-8"), default="-",
              help="Where to write the JSON (default: standard output).")
@with_appcontext
def export_command(email: str, output: TextIO) -> None:
    """Write everything held about a person as JSON, to answer a request made by mail."""
    try:
        data = export_data(subject_for_email(email), email_proven=True)
    except PrivacyError as exc:
        raise click.ClickException(str(exc)) from None
    json.dump(data, output, ensure_ascii=False, indent=2)
    output.write("\n")


@click.command("erase")
@click.argument("email")
@click.option("--by", "actor", default=None, help="Who asks (recorded); default: cli:<user>.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def erase_command(email: str, actor: str | None, yes: bool) -> None:
    """Erase a person's data: account, orders' identity, reseller lists, backups, links, e-mails.

    Invoices are kept ten years, readable by finance staff only.
    """
    try:
        subject = subject_for_email(email)
        if not yes:
            click.confirm(f"Erase the personal data of {subject.email} "
                          f"({len(subject.orders)} order(s))? This cannot be undone", abort=True)
        report = erase(subject, actor=_actor(actor))
    except PrivacyError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    click.echo(f"erased {subject.email}: {report.summary()}")
    click.echo(f"orders and invoices now refer to {report.pseudonym}")


@click.command("finance")
@click.argument("email")
@click.option("--revoke", is_flag=True, help="Withdraw the permission instead.")
@with_appcontext
def finance_command(email: str, revoke: bool) -> None:
    """Let an operator read erased buyers' invoices (finance staff), or stop them."""
    user = user_by_email(email)
    if user is None:
        raise click.ClickException(f"no account uses {email}")
    try:
        set_finance(user, not revoke)
    except PrivacyError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"{user.email} is {'no longer ' if revoke else ''}finance staff")


@click.group("privacy")
def privacy_group() -> None:
    """Personal data: the retention schedule (docs/privacy.md)."""


@privacy_group.command("retention")
@click.option("--dry-run", is_flag=True, help="Say what is due; change nothing.")
@with_appcontext
def retention_command(dry_run: bool) -> None:
    """Apply the retention schedule now and print what it did."""
    try:
        report = run_retention(dry_run=dry_run)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    for line in report.lines():
        click.echo(line)
