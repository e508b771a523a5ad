"""The console's door: a password, then always the TOTP second factor; joining by invitation."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Response, abort, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from accounts import factors, totp
from accounts import services as accounts
from accounts.factors import PASSWORD, TOTP
from accounts.sessions import Door
from commerce.models import Partner, Role, User
from extensions import db, limiter
from partners import members
from partners.models import PartnerMember
from partners.validation import PartnerError
from storefront.console.blueprint import bp
from storefront.forms import EmptyForm, SignInForm
from storefront.reseller.forms import CodeForm
from storefront.security import sessions
from storefront.security.doors import (
    mark_password_passed,
    password_passed,
    password_passed_key,
    safe_next,
)
from storefront.security.throttle import STAFF_ACCOUNT_LIMIT, sign_in_limits

log = logging.getLogger("comptoir.security")
PENDING_KEY = "console_pending"
INVITE_KEY = "console_invite"
Page = Response | str | tuple[str, int]


def console_member() -> PartnerMember:
    member: PartnerMember = g.console_member
    return member


def console_partner() -> Partner:
    partner: Partner = g.console_partner
    return partner


def console_actor() -> str:
    return f"partner:{console_member().user.email}"


def console_required(admin: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A session of the console's door with its second factor, of a live member (an admin for
    the pages that change things); the member's partner is the only one the view sees."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            signed = sessions.at_door(Door.PARTNER)
            member = members.member_of(signed.user) if signed is not None else None
            if signed is None or not signed.second_factor or member is None \
                    or member.accepted_at is None:
                if request.method != "GET":
                    abort(403)
                return redirect(url_for("console.login", next=request.path))
            if admin and member.role != "admin":
                abort(403)
            g.console_member = member
            g.console_partner = db.session.get(Partner, member.partner_id)
            return view(*args, **kwargs)

        return wrapped

    return decorate


@bp.route("/login", methods=["GET", "POST"])
@sign_in_limits(STAFF_ACCOUNT_LIMIT)
def login() -> Page:
    form = SignInForm()
    if form.validate_on_submit():
        user = accounts.authenticate(form.email.data, form.password.data, role=Role.PARTNER)
        member = members.member_of(user) if user is not None else None
        if user is None or member is None or member.accepted_at is None \
                or not factors.totp_enabled(user):
            log.warning("security: console sign-in failed for %s from %s", form.email.data,
                        request.remote_addr)
            form.password.errors = [_("E-mail address or password is wrong, or this account has "
                                      "no access to a partner console.")]
            return render_template("console/login.html", form=form), 401
        sessions.regenerate()
        mark_password_passed(PENDING_KEY, user, safe_next(url_for("console.dashboard")))
        return redirect(url_for("console.second_factor"))
    return render_template("console/login.html", form=form), 400 if request.method == "POST" \
        else 200


def _pending() -> tuple[User, str] | None:
    return password_passed(PENDING_KEY, Role.PARTNER, url_for("console.dashboard"))


def _pending_key() -> str:
    return password_passed_key(PENDING_KEY)


@bp.route("/login/verify", methods=["GET", "POST"])
@limiter.limit("10/minute;50/hour", methods=["POST"])
@limiter.limit("5/15 minutes", methods=["POST"], key_func=_pending_key,
               deduct_when=lambda r: r.status_code == 401)
def second_factor() -> Page:
    pending = _pending()
    if pending is None:
        flash(_("Sign in again: the code must follow the password within five minutes."),
              "error")
        return redirect(url_for("console.login"))
    user, target = pending
    form = CodeForm()
    if form.validate_on_submit():
        if factors.check_totp(user, form.code.data):
            session.pop(PENDING_KEY, None)
            sessions.begin(user, Door.PARTNER, [PASSWORD, TOTP])
            return redirect(target)
        log.warning("security: console member %s gave a wrong code from %s", user.email,
                    request.remote_addr)
        form.code.errors = [_("This code is wrong or has expired; enter the current one.")]
        return render_template("console/second_factor.html", form=form), 401
    return render_template("console/second_factor.html", form=form), \
        400 if request.method == "POST" else 200


@bp.post("/logout")
def logout() -> Response:
    if not EmptyForm().validate():
        abort(400)
    sessions.end("signed out")
    flash(_("You are signed out."), "success")
    return redirect(url_for("console.login"))


@bp.get("/invite/<token>")
@limiter.limit("30/minute")
def invite_link(token: str) -> Response:
    """The e-mailed link: the token moves into the session, out of the address bar."""
    session[INVITE_KEY] = {"token": token, "secret": totp.new_secret()}
    return redirect(url_for("console.invite"))


@bp.route("/invite", methods=["GET", "POST"])
@limiter.limit("10/minute", methods=["POST"])
def invite() -> Page:
    """Join a partner's console: choose a password, set up the authenticator app."""
    held = session.get(INVITE_KEY)
    token = held.get("token") if isinstance(held, dict) else None
    member = members.pending_member(str(token)) if token else None
    if member is None or not isinstance(held, dict):
        return render_template("console/invite_refused.html"), 410
    secret = str(held["secret"])
    partner = db.session.get(Partner, member.partner_id)
    form = EmptyForm()
    errors: dict[str, str] = {}
    if request.method == "POST":
        if not form.validate():
            abort(400)
        password = request.form.get("password", "")
        if password != request.form.get("password_again", ""):
            errors["password_again"] = _("the two passwords differ")
        else:
            try:
                members.accept(str(token), password, secret, request.form.get("code", ""))
            except PartnerError as exc:
                db.session.rollback()
                errors = exc.errors
            else:
                db.session.commit()
                session.pop(INVITE_KEY, None)
                sessions.begin(member.user, Door.PARTNER, [PASSWORD, TOTP])
                flash(_("Welcome to the %(partner)s console.",
                        partner=partner.name if partner else ""), "success")
                return redirect(url_for("console.dashboard"))
    uri = totp.provisioning_uri(secret, member.user.email, "Comptoir partner console")
    page = render_template("console/invite.html", invited=member, partner=partner, form=form,
                           errors=errors, secret=totp.grouped(secret), qr=totp.qr_data_uri(uri))
    return (page, 400) if errors else page
