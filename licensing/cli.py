"""Commands: `comptoir licensing ...` for keys, `comptoir licence ...` for licences."""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask.cli import AppGroup

from licensing.errors import LicensingError
from licensing.jwks import InvalidKeySet, build_jwks
from licensing.keys import (
    SigningKeyInfo,
    create_signing_key,
    list_signing_keys,
    published_keys,
    revoke_signing_key,
    rotate_signing_key,
)
from licensing.models import KeyRevocationReason, RevocationReason
from licensing.revocations import RevocationList, parse_revocation_list
from licensing.services import revoke_licence, verify_licence_token
from licensing.token import TokenError
from licensing.verify import KeyRing, describe, verify

key_commands = AppGroup("licensing", help="Manage licence signing keys.")
licence_commands = AppGroup("licence", help="Verify and revoke licences.")


def _show_key(info: object) -> None:

    assert isinstance(info, SigningKeyInfo)
    dates = [
        f"created {info.created_at:%Y-%m-%d %H:%M}",
        f"activated {info.activated_at:%Y-%m-%d %H:%M}" if info.activated_at else "",
        f"retired {info.retired_at:%Y-%m-%d %H:%M}" if info.retired_at else "",
        f"revoked {info.revoked_at:%Y-%m-%d %H:%M} ({info.revocation_reason})"
        if info.revoked_at
        else "",
    ]
    click.echo(f"{info.kid}  {info.status.value:<8} " + ", ".join(d for d in dates if d))


@key_commands.command("new-key")
@click.option("--activate/--no-activate", default=None,
              help="Sign with it now (default: only if no key is active).")
@click.option("--actor", default="cli", show_default=True)
def new_key(activate: bool | None, actor: str) -> None:
    """Create a signing key pair (published at once; active if none is)."""

    _show_key(create_signing_key(activate=activate, actor=actor))


@key_commands.command("rotate-key")
@click.option("--kid", help="Pending key to activate (default: oldest pending, else a new one).")
@click.option("--actor", default="cli", show_default=True)
def rotate_key(kid: str | None, actor: str) -> None:
    """Make a new key active; earlier licences keep verifying with the retired key."""

    try:
        _show_key(rotate_signing_key(kid=kid, actor=actor))
    except LicensingError as exc:
        raise click.ClickException(str(exc)) from exc


# A key id is base64url and may begin with "-": read it as the argument, not as an option.
@key_commands.command("revoke-key", context_settings={"ignore_unknown_options": True})
@click.argument("kid")
@click.option("--reason", required=True, type=click.Choice([r.value for r in KeyRevocationReason]))
@click.option("--actor", default="cli", show_default=True)
def revoke_key(kid: str, reason: str, actor: str) -> None:
    """Revoke a key: its licences then verify as revoked (reason key_revoked)."""

    try:
        _show_key(revoke_signing_key(kid, KeyRevocationReason(reason), actor=actor))
    except LicensingError as exc:
        raise click.ClickException(str(exc)) from exc


@key_commands.command("list-keys")
def list_keys() -> None:
    """List signing keys, oldest first (never their private halves)."""

    for info in list_signing_keys():
        _show_key(info)


@key_commands.command("export-keys")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path), required=False)
def export_keys(path: Path | None) -> None:
    """Write the published JWK Set (for offline verification) to PATH or stdout."""
    text = json.dumps(build_jwks(published_keys()), indent=2)
    if path is None:
        click.echo(text)
    else:
        path.write_text(text + "\n")


@licence_commands.command("verify")
@click.argument("token")
@click.option("--keys", "keys_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Saved licence-keys.json: verify offline, without the database.")
@click.option("--revoked", "revoked_path",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Saved /api/v1/licences/revoked answer (with --keys).")
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON.")
def verify_command(
    token: str, keys_path: Path | None, revoked_path: Path | None, as_json: bool
) -> None:
    """Verify TOKEN; exit 0 when valid, 1 otherwise."""
    token = token.strip()
    if keys_path is None:
        verdict = verify_licence_token(token)
    else:
        try:
            ring = KeyRing.from_jwks(keys_path.read_bytes())
            revoked: RevocationList | frozenset[str] = frozenset()
            if revoked_path is not None:
                document = json.loads(revoked_path.read_bytes())["document"]
                revoked = parse_revocation_list(document, ring)
        except (InvalidKeySet, TokenError, ValueError, KeyError) as exc:
            raise click.ClickException(f"cannot read the saved documents: {exc}") from exc
        verdict = verify(token, ring, revoked=revoked)
    click.echo(json.dumps(verdict.to_dict(), indent=2) if as_json else describe(verdict))
    raise SystemExit(0 if verdict.valid else 1)


@licence_commands.command("revoke")
@click.argument("licence")
@click.option("--reason", required=True, type=click.Choice([r.value for r in RevocationReason]))
@click.option("--actor", default="cli", show_default=True)
def revoke_command(licence: str, reason: str, actor: str) -> None:
    """Revoke LICENCE (an id or a CPT-... number)."""
    from extensions import db

    try:
        issued = revoke_licence(licence, RevocationReason(reason), actor)
        db.session.commit()
    except LicensingError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{issued.number} revoked at {issued.revoked_at:%Y-%m-%d %H:%M:%S} "
               f"({issued.revocation_reason})")
