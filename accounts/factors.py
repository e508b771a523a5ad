"""Second factors of a person: a TOTP code (each accepted once) and passkeys (WebAuthn)."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import or_, select, update
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidRegistrationResponse
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from accounts import totp
from accounts.models import Passkey
from commerce.models import User
from extensions import db, utcnow

log = logging.getLogger("comptoir.security")

TOTP = "totp"
PASSKEY = "passkey"
PASSWORD = "password"  # noqa: S105 - the name of a factor, not a password
SECOND_FACTORS = frozenset({TOTP, PASSKEY})


class FactorError(ValueError):
    """A second factor that could not be checked or enrolled; the message says why."""


# --- TOTP ---------------------------------------------------------------------------------------


def totp_enabled(user: User) -> bool:
    """Whether this person has a TOTP second factor."""
    return bool(user.totp_secret)


def has_second_factor(user: User) -> bool:
    """Whether this person can pass a second factor at all (TOTP or a passkey)."""
    return totp_enabled(user) or passkey_count(user) > 0


def check_totp(user: User, code: str) -> bool:
    """Check a code against the person's TOTP secret; each code is accepted once."""
    if not user.totp_secret:
        return False
    try:
        secret = totp.open_secret(user.totp_secret, str(user.id))
    except totp.TotpError:
        log.error("user %s: stored TOTP secret cannot be opened", user.id)
        return False
    step = totp.matching_step(secret, code)
    return step is not None and _use_step(user, step)


def _use_step(user: User, step: int) -> bool:
    """Record the code's step as used, unless it (or a later one) was: a replay is refused."""
    used = db.session.execute(
        update(User)
        .where(User.id == user.id,
               or_(User.totp_last_step.is_(None), User.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    db.session.commit()
    if not used:
        log.warning("user %s: a two-step code was used again", user.id)
    return bool(used)


def enable_totp(user: User, secret: str, code: str) -> bool:
    """Turn TOTP on once a code from the new secret checks out (the caller's session commits)."""
    step = totp.matching_step(secret, code)
    if step is None:
        return False
    user.totp_secret = totp.seal_secret(secret, str(user.id))
    user.totp_last_step = step
    db.session.commit()
    log.info("user %s enabled two-step sign-in", user.id)
    return True


def set_totp_secret(user: User, secret: str) -> None:
    """Give a person a TOTP secret directly (operator enrolment from the command line)."""
    user.totp_secret = totp.seal_secret(secret, str(user.id))
    user.totp_last_step = None


def disable_totp(user: User, code: str) -> bool:
    """Turn TOTP off, on a current code."""
    if not check_totp(user, code):
        return False
    user.totp_secret = None
    db.session.commit()
    log.info("user %s disabled two-step sign-in", user.id)
    return True


# --- passkeys -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RelyingParty:
    """Who asks for the passkey: the host the back office is served on, and its origin."""

    id: str
    origin: str
    name: str = "Comptoir"


def passkey_count(user: User) -> int:
    return len(passkeys_of(user))


def passkeys_of(user: User) -> list[Passkey]:
    return list(db.session.scalars(
        select(Passkey).where(Passkey.user_id == user.id).order_by(Passkey.created_at)))


def registration_options(user: User, rp: RelyingParty) -> tuple[str, bytes]:
    """Options for navigator.credentials.create(), as JSON, and the challenge to keep."""
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_name=user.email,
        user_id=user.id.bytes,
        user_display_name=user.name or user.email,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=p.credential_id)
                             for p in passkeys_of(user)],
    )
    return options_to_json(options), options.challenge


def register_passkey(
    user: User, rp: RelyingParty, credential: dict[str, Any] | str, challenge: bytes, name: str
) -> Passkey:
    """Verify the authenticator's answer and keep the new credential (the caller commits)."""
    try:
        verified = verify_registration_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=rp.id,
            expected_origin=rp.origin, require_user_verification=True,
        )
    except (InvalidRegistrationResponse, ValueError, KeyError, TypeError) as exc:
        raise FactorError(_("the passkey could not be registered: %(detail)s", detail=exc)) from exc
    transports = credential.get("response", {}).get("transports", []) \
        if isinstance(credential, dict) else []
    passkey = Passkey(
        user_id=user.id, credential_id=verified.credential_id,
        public_key=verified.credential_public_key, sign_count=verified.sign_count,
        name=(name.strip() or "Passkey")[:60], rp_id=rp.id,
        transports=",".join(str(t) for t in transports if isinstance(t, str))[:120],
    )
    db.session.add(passkey)
    log.info("user %s registered a passkey", user.id)
    return passkey


def authentication_options(user: User, rp: RelyingParty) -> tuple[str, bytes]:
    """Options for navigator.credentials.get() limited to the person's passkeys on this host."""
    allowed = []
    for p in passkeys_of(user):
        if p.rp_id != rp.id:
            continue
        transports = []
        for t in p.transports.split(","):
            try:
                transports.append(AuthenticatorTransport(t))
            except ValueError:
                continue
        allowed.append(PublicKeyCredentialDescriptor(id=p.credential_id,
                                                     transports=transports or None))
    if not allowed:
        raise FactorError(_("no passkey is registered for this address"))
    options = generate_authentication_options(
        rp_id=rp.id, allow_credentials=allowed,
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return options_to_json(options), options.challenge


def check_passkey(
    user: User, rp: RelyingParty, credential: dict[str, Any], challenge: bytes
) -> Passkey:
    """Verify a passkey assertion for this person; raise FactorError when it does not hold."""
    from webauthn import base64url_to_bytes

    try:
        credential_id = base64url_to_bytes(str(credential.get("rawId") or credential.get("id")))
    except (ValueError, TypeError) as exc:
        raise FactorError(_("the passkey answer names no credential")) from exc
    passkey = db.session.scalar(select(Passkey).where(
        Passkey.credential_id == credential_id, Passkey.user_id == user.id,
        Passkey.rp_id == rp.id))
    if passkey is None:
        raise FactorError(_("this passkey is not registered for this address"))
    try:
        verified = verify_authentication_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=rp.id,
            expected_origin=rp.origin, credential_public_key=passkey.public_key,
            credential_current_sign_count=passkey.sign_count, require_user_verification=True,
        )
    except (InvalidAuthenticationResponse, ValueError, KeyError, TypeError) as exc:
        raise FactorError(_("the passkey answer does not check out: %(detail)s",
                                    detail=exc)) from exc
    passkey.sign_count, passkey.last_used_at = verified.new_sign_count, utcnow()
    db.session.commit()
    return passkey


def remove_passkey(user: User, passkey_id: uuid.UUID) -> bool:
    """Remove one of the person's passkeys, keeping at least one second factor."""
    passkey = db.session.get(Passkey, passkey_id)
    if passkey is None or passkey.user_id != user.id:
        return False
    if not totp_enabled(user) and passkey_count(user) <= 1:
        raise FactorError(_("keep at least one second factor: set up TOTP before removing "
                            "this passkey"))
    db.session.delete(passkey)
    db.session.commit()
    log.info("user %s removed a passkey", user.id)
    return True
