"""`comptoir users …` and `comptoir operators …`: accounts, sessions and second factors."""

from __future__ import annotations

import sys
import uuid

import click
import pyotp
from flask import Flask, current_app
from flask.cli import with_appcontext

from accounts import factors, totp
from accounts import sessions as records
from accounts.api_keys import issue_operator_key, operator_keys, revoke_operator_key
from accounts.services import normalise_email, user_by_email
from commerce.models import Role, User
from commerce.passwords import hash_password, password_problem
from extensions import db, utcnow


def _user(email: str) -> User:
    user = user_by_email(email)
    if user is None:
        raise click.ClickException(f"no account uses {email}")
    return user


@click.group("users")
def users_group() -> None:
    """Accounts: show, disable, enable, end sessions; export and erase a person's data."""


@users_group.command("show")
@click.argument("email")
@with_appcontext
def show(email: str) -> None:
    """Show an account, its second factors and its open sessions."""
    user = _user(email)
    click.echo(f"{user.email}  role={user.role}  active={user.active}  "
               f"verified={'yes' if user.email_verified else 'no'}")
    click.echo(f"second factors: totp={'on' if factors.totp_enabled(user) else 'off'}  "
               f"passkeys={factors.passkey_count(user)}")
    live = records.live_sessions(user.id)
    click.echo(f"open sessions: {len(live)}")
    for row in live:
        click.echo(f"  {row.id}  {row.door:<8} {row.factors:<18} "
                   f"since {row.created_at:%Y-%m-%d %H:%M}  seen {row.last_seen_at:%Y-%m-%d %H:%M}"
                   f"  {row.ip}")


@users_group.command("disable")
@click.argument("email")
@with_appcontext
def disable(email: str) -> None:
    """Disable an account: it cannot sign in, and its sessions end at once."""
    user = _user(email)
    records.set_active(user, False, "command line")
    click.echo(f"{user.email} is disabled; its sessions are ended")


@users_group.command("enable")
@click.argument("email")
@with_appcontext
def enable(email: str) -> None:
    """Let a disabled account sign in again."""
    user = _user(email)
    records.set_active(user, True, "command line")
    click.echo(f"{user.email} can sign in again")


@users_group.command("end-sessions")
@click.argument("email")
@with_appcontext
def end_sessions(email: str) -> None:
    """End every open session of an account (it signs in again)."""
    user = _user(email)
    count = records.end_all_sessions(user.id, "ended from the command line")
    click.echo(f"{count} session(s) of {user.email} ended")


@users_group.command("totp-code")
@click.argument("email")
@with_appcontext
def totp_code(email: str) -> None:
    """Print the current two-step code of a demo account (refused in production)."""
    if current_app.config["ENV"] == "production":
        raise click.ClickException("refused in production: codes come from the person's app")
    user = _user(email)
    if not user.totp_secret:
        raise click.ClickException(f"{user.email} has no two-step sign-in")
    click.echo(pyotp.TOTP(totp.open_secret(user.totp_secret, str(user.id))).now())


@click.group("operators")
def operators_group() -> None:
    """Operator accounts: create one, or give one a new two-step secret."""


def _read_password(from_stdin: bool, email: str, name: str) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    problem = password_problem(password, staff=True, user_inputs=(email, name))
    if problem:
        raise click.ClickException(f"password refused: {problem}")
    return password


def _enrol_totp(user: User, code: str | None) -> None:
    """Give the operator a fresh TOTP secret, shown once, confirmed by a code from their app."""
    secret = totp.new_secret()
    uri = totp.provisioning_uri(secret, user.email, "Comptoir back office")
    click.echo("Add this to the operator's authenticator app (shown once):")
    click.echo(f"  secret: {totp.grouped(secret)}")
    click.echo(f"  {uri}")
    code = code or click.prompt("Code now shown by the app")
    if totp.matching_step(secret, code) is None:
        raise click.ClickException("this code does not match the new secret; nothing was saved")
    factors.set_totp_secret(user, secret)


@operators_group.command("create")
@click.argument("email")
@click.option("--name", default="", help="The operator's name.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--code", default=None, help="The first code from the app (else asked).")
@with_appcontext
def create_operator(email: str, name: str, password_stdin: bool, code: str | None) -> None:
    """Create an operator with a password and a TOTP second factor (both required)."""
    email = normalise_email(email)
    if user_by_email(email) is not None:
        raise click.ClickException(f"an account already uses {email}")
    password = _read_password(password_stdin, email, name)
    user = User(email=email, name=name, role=Role.OPERATOR, password_hash=hash_password(password))
    db.session.add(user)
    try:
        db.session.flush()
        _enrol_totp(user, code)
    except BaseException:
        db.session.rollback()  # no operator without its second factor
        raise
    user.email_verified_at = utcnow()
    db.session.commit()
    click.echo(f"operator {email} created with two-step sign-in")


@operators_group.command("reset-totp")
@click.argument("email")
@click.option("--code", default=None, help="The first code from the app (else asked).")
@with_appcontext
def reset_totp(email: str, code: str | None) -> None:
    """Give an operator a new TOTP secret (a lost phone); their sessions end."""
    user = _user(email)
    if user.role != Role.OPERATOR:
        raise click.ClickException(f"{user.email} is not an operator")
    try:
        _enrol_totp(user, code)
    except BaseException:
        db.session.rollback()
        raise
    db.session.commit()
    records.end_all_sessions(user.id, "two-step secret replaced")
    click.echo(f"{user.email} has a new two-step secret; their sessions are ended")


@operators_group.command("api-key")
@click.argument("email")
@click.option("--label", default="", help="What the key is for.")
@with_appcontext
def operator_api_key(email: str, label: str) -> None:
    """Issue an operator API key to the operator EMAIL and print it (shown only this once)."""
    user = _user(email)
    try:
        key = issue_operator_key(user, label)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(key)


@operators_group.command("api-keys")
@click.argument("email")
@with_appcontext
def operator_api_keys(email: str) -> None:
    """List an operator's API keys (prefixes only)."""
    for record in operator_keys(_user(email)):
        state = f"revoked {record.revoked_at:%Y-%m-%d}" if record.revoked_at else "active"
        click.echo(f"{record.id}  {record.prefix}…  {record.created_at:%Y-%m-%d}  {state}  "
                   f"{record.label}")


@operators_group.command("revoke-api-key")
@click.argument("key_id", type=click.UUID)
@with_appcontext
def operator_revoke_api_key(key_id: uuid.UUID) -> None:
    """Revoke the operator API key KEY_ID (from `operators api-keys`)."""
    if revoke_operator_key(key_id) is None:
        raise click.ClickException("no such active key")
    db.session.commit()
    click.echo("revoked")


def init_app(app: Flask) -> None:
    from accounts.privacy_cli import (
        erase_command,
        export_command,
        finance_command,
        privacy_group,
    )

    for command in (export_command, erase_command, finance_command):
        if command.name not in users_group.commands:
            users_group.add_command(command)
    app.cli.add_command(users_group)
    app.cli.add_command(operators_group)
    app.cli.add_command(privacy_group)
