"""The operator door: a password, then always a second factor (TOTP code or passkey).

An operator account without a second factor cannot open a session: one is given on the
command line (`comptoir operators create` / `reset-totp`), and passkeys are added from the
security page of a session that already passed a second factor.
"""

from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import (
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _

from accounts import factors
from accounts import services as accounts
from accounts import sessions as records
from accounts.factors import PASSKEY, PASSWORD, TOTP, FactorError, RelyingParty
from accounts.sessions import Door
from commerce.models import Role, User
from extensions import db, limiter
from storefront.backoffice.blueprint import bp
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

PENDING_KEY = "operator_pending"  # password passed, second factor owed
CHALLENGE_KEY = "operator_webauthn"

Page = Response | str | tuple[str, int]


def current_operator() -> User:
    """The operator of this request (only inside operator_required views)."""
    signed = sessions.at_door(Door.OPERATOR)
    if signed is None:
        abort(403)
    return signed.user


def operator_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Only a session opened at the operator door with a second factor passes."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        signed = sessions.at_door(Door.OPERATOR)
        if signed is None or not signed.second_factor:
            if request.method != "GET" or request.accept_mimetypes.best == "application/json":
                abort(403)
            return redirect(url_for("backoffice.login", next=request.path))
        return view(*args, **kwargs)

    return wrapped


def relying_party() -> RelyingParty:
    """The passkey relying party: the back office's own host (one of the platform's hosts)."""
    host = request.host.rsplit(":", 1)[0] if not request.host.startswith("[") else request.host
    return RelyingParty(id=host.lower(), origin=request.host_url.rstrip("/"),
                        name="Comptoir back office")


@bp.route("/login", methods=["GET", "POST"])
@sign_in_limits(STAFF_ACCOUNT_LIMIT)
def login() -> Page:
    form = SignInForm()
    if form.validate_on_submit():
        user = accounts.authenticate(form.email.data, form.password.data, role=Role.OPERATOR)
        if user is None:
            log.warning("security: operator sign-in failed for %s from %s", form.email.data,
                        request.remote_addr)
            form.password.errors = [
                _("E-mail address or password is wrong, or this is not an operator account.")
            ]
            return render_template("backoffice/login.html", form=form), 401
        if not factors.has_second_factor(user):
            log.warning("security: operator %s has no second factor: sign-in refused", user.email)
            return render_template("backoffice/login_no_factor.html", email=user.email), 403
        sessions.regenerate()
        mark_password_passed(PENDING_KEY, user, safe_next(url_for("backoffice.orders")))
        return redirect(url_for("backoffice.second_factor"))
    status = 400 if request.method == "POST" else 200
    return render_template("backoffice/login.html", form=form), status


def _pending() -> tuple[User, str] | None:
    return password_passed(PENDING_KEY, Role.OPERATOR, url_for("backoffice.orders"))


def _pending_key() -> str:
    return password_passed_key(PENDING_KEY)


@bp.route("/login/verify", methods=["GET", "POST"])
@limiter.limit("10/minute;50/hour", methods=["POST"])
@limiter.limit("5/15 minutes", methods=["POST"], key_func=_pending_key,
               deduct_when=lambda r: r.status_code == 401)
def second_factor() -> Page:
    pending = _pending()
    if pending is None:
        flash(_("Sign in again: the second step must follow the password within five minutes."),
              "error")
        return redirect(url_for("backoffice.login"))
    user, target = pending
    form = CodeForm()
    context = {"form": form, "totp": factors.totp_enabled(user),
               "passkeys": factors.passkey_count(user) > 0}
    if form.validate_on_submit():
        if factors.check_totp(user, form.code.data):
            return _complete(user, TOTP, target)
        log.warning("security: operator %s gave a wrong two-step code from %s", user.email,
                    request.remote_addr)
        form.code.errors = [_("This code is wrong or has expired; enter the current one.")]
        return render_template("backoffice/second_factor.html", **context), 401
    status = 400 if request.method == "POST" else 200
    return render_template("backoffice/second_factor.html", **context), status


def _complete(user: User, factor: str, target: str) -> Response:
    session.pop(PENDING_KEY, None)
    session.pop(CHALLENGE_KEY, None)
    sessions.begin(user, Door.OPERATOR, [PASSWORD, factor])
    return redirect(target)


@bp.post("/login/passkey/options")
@limiter.limit("20/minute")
def passkey_options() -> Response | tuple[Response, int]:
    pending = _pending()
    if pending is None:
        return jsonify({"error": _("sign in with your password first")}), 401
    try:
        options, challenge = factors.authentication_options(pending[0], relying_party())
    except FactorError as exc:
        return jsonify({"error": str(exc)}), 400
    session[CHALLENGE_KEY] = base64.b64encode(challenge).decode()
    return Response(options, mimetype="application/json")


@bp.post("/login/passkey")
@limiter.limit("10/minute")
def passkey_verify() -> Response | tuple[Response, int]:
    pending = _pending()
    challenge = session.pop(CHALLENGE_KEY, None)
    if pending is None or not isinstance(challenge, str):
        return jsonify({"error": _("sign in with your password first")}), 401
    user, target = pending
    credential = request.get_json(silent=True)
    if not isinstance(credential, dict):
        return jsonify({"error": _("the passkey answer is not JSON")}), 400
    try:
        factors.check_passkey(user, relying_party(), credential, base64.b64decode(challenge))
    except FactorError as exc:
        log.warning("security: operator %s passkey refused from %s: %s", user.email,
                    request.remote_addr, exc)
        return jsonify({"error": str(exc)}), 401
    _complete(user, PASSKEY, target)
    return jsonify({"redirect": target})


@bp.post("/logout")
def logout() -> Response:
    if not EmptyForm().validate():
        abort(400)
    session.pop(PENDING_KEY, None)
    sessions.end("signed out")
    return redirect(url_for("backoffice.login"))


# --- the operator's own second factors ----------------------------------------------------------


@bp.route("/security")
@operator_required
def security() -> str:
    user = current_operator()
    return render_template("backoffice/security.html", user=user,
                           passkeys=factors.passkeys_of(user), totp=factors.totp_enabled(user),
                           form=EmptyForm(), logout_form=EmptyForm(),
                           sessions=records.live_sessions(user.id),
                           this_session=sessions.current())


@bp.post("/security/passkeys/options")
@operator_required
def passkey_registration_options() -> Response:
    options, challenge = factors.registration_options(current_operator(), relying_party())
    session[CHALLENGE_KEY] = base64.b64encode(challenge).decode()
    return Response(options, mimetype="application/json")


@bp.post("/security/passkeys")
@operator_required
def passkey_register() -> Response | tuple[Response, int]:
    challenge = session.pop(CHALLENGE_KEY, None)
    body = request.get_json(silent=True)
    if not isinstance(challenge, str) or not isinstance(body, dict):
        return jsonify({"error": _("start the registration again")}), 400
    credential = body.get("credential")
    if not isinstance(credential, dict):
        return jsonify({"error": _("the passkey answer is missing")}), 400
    try:
        factors.register_passkey(current_operator(), relying_party(), credential,
                                 base64.b64decode(challenge), str(body.get("name") or ""))
    except FactorError as exc:
        return jsonify({"error": str(exc)}), 400
    db.session.commit()
    sessions.regenerate()  # the account's factors changed: a new session id
    flash(_("Passkey added: you can use it at your next sign-in."), "success")
    return jsonify({"redirect": url_for("backoffice.security")})


@bp.post("/security/passkeys/<uuid:passkey_id>/remove")
@operator_required
def passkey_remove(passkey_id: uuid.UUID) -> Response:
    if not EmptyForm().validate():
        abort(400)
    try:
        removed = factors.remove_passkey(current_operator(), passkey_id)
    except FactorError as exc:
        flash(_("Not removed: %(error)s.", error=exc), "error")
        return redirect(url_for("backoffice.security"))
    if not removed:
        abort(404)
    flash(_("Passkey removed."), "success")
    return redirect(url_for("backoffice.security"))
