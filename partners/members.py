"""A partner's staff in its console: invited by e-mail (by the operator or a partner admin),
joining with a password and a TOTP second factor, admins or viewers, revoked at once."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Any

from flask import current_app, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from accounts import factors
from accounts.models import AuthSession
from accounts.services import INVITE, issue_token, normalise_email, redeem_token, user_by_email
from commerce.models import Partner, Role, User
from commerce.passwords import hash_password, password_problem
from extensions import db, utcnow
from partners.models import PartnerChange, PartnerMember
from partners.validation import PartnerError

log = logging.getLogger("comptoir.partners")
ROLES = ("admin", "viewer")


@dataclass(frozen=True)
class Invitation:
    member: PartnerMember
    link: str


def member_of(user: User) -> PartnerMember | None:
    """The live membership of a console account (None once revoked or for another account)."""
    return db.session.scalar(select(PartnerMember).where(
        PartnerMember.user_id == user.id, PartnerMember.revoked_at.is_(None)))


def members_of(partner: Partner) -> list[PartnerMember]:
    return list(db.session.scalars(select(PartnerMember).where(
        PartnerMember.partner_id == partner.id).order_by(PartnerMember.created_at)))


def invite(partner: Partner, email: str, role: str, *, actor: str) -> Invitation:
    """Invite an address to the partner's console; the e-mail goes out once the caller
    commits. An address already used by another kind of account, or by another partner's
    console, is refused."""
    address = normalise_email(email or "")
    errors: dict[str, Any] = {}
    if role not in ROLES:
        errors["role"] = _l("must be admin or viewer")
    if "@" not in address or len(address) > 254 or any(c.isspace() for c in address):
        errors["email"] = _l("must be an e-mail address")
    user = user_by_email(address) if "email" not in errors else None
    if user is not None and user.role != Role.PARTNER:
        errors["email"] = _l("this address has another kind of account: use another one")
    existing = member_of(user) if user is not None else None
    if existing is not None and existing.partner_id != partner.id:
        errors["email"] = _l("this address is in another partner's console")
    if errors:
        raise PartnerError(errors)
    if user is None:
        user = User(email=address, role=Role.PARTNER, active=True,
                    password_hash=hash_password(secrets.token_urlsafe(32)))  # none usable yet
        db.session.add(user)
        db.session.flush()
    member = existing or PartnerMember(partner_id=partner.id, user_id=user.id,
                                       invited_by=actor, role=role)
    member.role = role
    db.session.add(member)
    db.session.flush()
    issued = issue_token(user, INVITE, commit=False)
    if issued is None:
        raise PartnerError({"email": _l("several invitations to this address are still open: "
                                        "wait for one to be used or to expire")})
    base = str(current_app.config.get("PUBLIC_URL") or "http://127.0.0.1:5000").rstrip("/")
    link = f"{base}/partner/invite/{issued.token}"
    db.session.add(PartnerChange(partner_id=partner.id, action="member_invited", actor=actor,
                                 changes={"member": [None, {"email": address, "role": role}]}))
    _mail_after_commit(partner, address, link)
    log.info("partner %s: %s invited to the console as %s by %s", partner.slug, address, role,
             actor)
    return Invitation(member, link)


def _mail_after_commit(partner: Partner, address: str, link: str) -> None:
    from events.outbox import after_commit
    from fulfilment.mail import Mail, send_mail

    text = render_template("console/emails/invite.txt", partner=partner, link=link)
    subject = _("%(partner)s: your access to the partner console", partner=partner.name)
    mail = Mail(to=address, subject=subject, text=text)
    after_commit(lambda: send_mail(mail))


def pending_member(token: str) -> PartnerMember | None:
    """The membership an invitation link is for, while it can still be used."""
    from accounts.services import user_for_token

    user = user_for_token(token, INVITE)
    return member_of(user) if user is not None else None


def accept(token: str, password: str, totp_secret: str, code: str) -> PartnerMember:
    """Join: set the password and the second factor, once, through the invitation's link."""
    member = pending_member(token)
    if member is None:
        raise PartnerError({"token": _l("this invitation is used, expired or unknown")})
    user = member.user
    errors: dict[str, Any] = {}
    problem = password_problem(password, staff=True, user_inputs=(user.email,))
    if problem:
        errors["password"] = problem
    from accounts import totp

    if totp.matching_step(totp_secret, code) is None:
        errors["code"] = _l("this code does not match: enter the one your app shows now")
    if errors:
        raise PartnerError(errors)
    if redeem_token(token, INVITE) is None:
        raise PartnerError({"token": _l("this invitation is used, expired or unknown")})
    user.password_hash = hash_password(password)
    user.email_verified_at = user.email_verified_at or utcnow()
    factors.set_totp_secret(user, totp_secret)
    member.accepted_at = utcnow()
    db.session.add(PartnerChange(partner_id=member.partner_id, action="member_joined",
                                 actor=f"partner:{user.email}",
                                 changes={"member": [None, {"email": user.email,
                                                            "role": member.role}]}))
    return member


def revoke(member: PartnerMember, *, actor: str) -> None:
    """End a member's access now: the membership, and every session of the account."""
    member.revoked_at = utcnow()
    db.session.add(PartnerChange(partner_id=member.partner_id, action="member_revoked",
                                 actor=actor, changes={"member": [
                                     {"email": member.user.email, "role": member.role}, None]}))
    db.session.execute(  # every session of the account ends with the same commit
        update(AuthSession)
        .where(AuthSession.user_id == member.user_id, AuthSession.ended_at.is_(None))
        .values(ended_at=utcnow(), end_reason="console access revoked")
        .execution_options(synchronize_session=False))
