"""Buyer account pages on a partner's shop: the buyer door, sign-up, confirming, resetting."""

from __future__ import annotations

import json
import logging
import uuid

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from accounts import privacy, services
from accounts import sessions as records
from accounts.factors import PASSWORD
from accounts.sessions import Door
from commerce.links import LinkState, shop_url
from commerce.mailing import send_branded
from commerce.models import Partner, Role, User
from commerce.passwords import check_password
from extensions import limiter
from storefront.forms import (
    CancelSubscriptionForm,
    ChangePasswordForm,
    EmailForm,
    EmptyForm,
    EraseAccountForm,
    NewPasswordForm,
    SignInForm,
    SignUpForm,
)
from storefront.security import links, sessions
from storefront.security.doors import buyer_required, current_buyer, safe_next
from storefront.security.throttle import sign_in_limits
from storefront.tenancy import current_partner
from subscriptions.services import (
    SubscriptionError,
    cancel_at_period_end,
    charges_of,
    subscriptions_of_user,
)

log = logging.getLogger("comptoir.security")

bp = Blueprint("accounts", __name__, url_prefix="/account")

Page = Response | str | tuple[str, int]
TEMPLATES = "storefront/emails"


@bp.before_request
def require_partner() -> None:
    current_partner()


@bp.route("/signin", methods=["GET", "POST"])
@sign_in_limits()
def signin() -> Page:
    """The buyer door: buyer accounts only (resellers and operators have their own)."""
    form = SignInForm()
    if form.validate_on_submit():
        user = services.authenticate(form.email.data, form.password.data, role=Role.BUYER)
        if user is not None:
            sessions.begin(user, Door.BUYER, [PASSWORD])
            flash(_("You are signed in."), "success")
            return redirect(safe_next(url_for("accounts.orders")))
        log.info("security: buyer sign-in failed for %s from %s", form.email.data,
                 request.remote_addr)
        form.password.errors = [_("E-mail address or password is wrong.")]
        return render_template("storefront/signin.html", form=form), 401
    status = 400 if request.method == "POST" else 200
    return render_template("storefront/signin.html", form=form), status


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit("10/minute;30/hour", methods=["POST"])
def signup() -> Page:
    """Create an account; the answer is the same whether or not the address has one."""
    partner = current_partner()
    form = SignUpForm()
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return render_template("storefront/signup.html", form=form), status
    outcome = services.sign_up(form.email.data, form.name.data, form.password.data)
    try:
        if outcome.created is not None and outcome.verification is not None:
            _send_verification(partner, outcome.verification)
        elif outcome.existing is not None:
            _send_account_exists(partner, outcome.existing, outcome.reset)
    except Exception:  # noqa: BLE001 - the answer must not tell which e-mail it was
        log.exception("accounts: sign-up e-mail for partner %s not sent", partner.slug)
    return render_template("storefront/signup_sent.html", email=services.normalise_email(
        form.email.data))


def _send_verification(partner: Partner, issued: services.IssuedToken) -> None:
    send_branded(f"{TEMPLATES}/verify", issued.user.email, _("Confirm your e-mail address"),
                 partner, str(get_locale() or "fr"), name=issued.user.name,
                 url=f"{shop_url(partner)}/account/verify/{issued.token}",
                 expires_at=issued.expires_at)


def _send_account_exists(partner: Partner, user: User, reset: services.IssuedToken | None) -> None:
    base = shop_url(partner)
    send_branded(f"{TEMPLATES}/account_exists", user.email, _("You already have an account"),
                 partner, str(get_locale() or "fr"), name=user.name,
                 signin_url=f"{base}/account/signin",
                 reset_url=f"{base}/account/reset/{reset.token}" if reset else None,
                 reset_expires_at=reset.expires_at if reset else None)


@bp.get("/verify/<token>")
def verify_link(token: str) -> Response:
    links.stash("verify", token)
    return redirect(url_for("accounts.verify"))


@bp.route("/verify", methods=["GET", "POST"])
@limiter.limit("20/minute", methods=["POST"])
def verify() -> Page:
    """Confirm the address with a button (mail scanners that open links must not use it up)."""
    token = links.stashed("verify")
    state = services.token_state(token, services.VERIFY) if token else LinkState.UNKNOWN
    if request.method == "GET" or state != LinkState.VALID:
        return render_template("storefront/verify.html", state=str(state),
                               form=EmptyForm()), state.http_status
    if not EmptyForm().validate():
        abort(400)
    assert token is not None
    user = services.verify_email(token)
    links.drop("verify")
    if user is None:
        return render_template("storefront/verify.html", state="used", form=EmptyForm()), 410
    signed = current_buyer()
    if signed is not None and signed.id == user.id:
        sessions.regenerate()  # the account now reaches more: a new session id
        flash(_("Your address is confirmed: your orders and licence backups made with it are "
                "now in your account."), "success")
        return redirect(url_for("accounts.orders"))
    flash(_("Your address is confirmed. Sign in to see your orders."), "success")
    return redirect(url_for("accounts.signin"))


@bp.post("/verify/resend")
@limiter.limit("3/minute;10/hour")
@buyer_required
def resend_verification() -> Response:
    if not EmptyForm().validate():
        abort(400)
    user = current_buyer()
    assert user is not None
    if not user.email_verified:
        issued = services.issue_token(user, services.VERIFY)
        if issued is not None:
            try:
                _send_verification(current_partner(), issued)
            except Exception:  # noqa: BLE001 - say so; the person can try again
                log.exception("accounts: verification e-mail not sent")
                flash(_("We could not send the e-mail just now. Please try again in a few "
                        "minutes."), "error")
                return redirect(url_for("accounts.orders"))
        flash(_("We have sent a new confirmation link to %(email)s.", email=user.email),
              "success")
    return redirect(url_for("accounts.orders"))


@bp.route("/reset", methods=["GET", "POST"])
@limiter.limit("5/minute;20/hour", methods=["POST"])
def reset_request() -> Page:
    """Ask for a new-password link; the same answer whether or not the address has an account."""
    partner = current_partner()
    form = EmailForm()
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return render_template("storefront/reset_request.html", form=form), status
    user = services.user_by_email(form.email.data)
    # Operators change passwords from the command line only; resellers and buyers by e-mail.
    if user is not None and user.active and user.role in (Role.BUYER, Role.RESELLER):
        issued = services.issue_token(user, services.RESET)
        if issued is not None:
            try:
                send_branded(f"{TEMPLATES}/reset", user.email, _("Choose a new password"),
                             partner, str(get_locale() or "fr"), name=user.name,
                             url=f"{shop_url(partner)}/account/reset/{issued.token}",
                             expires_at=issued.expires_at)
            except Exception:  # noqa: BLE001 - the answer must not tell whether it was sent
                log.exception("accounts: reset e-mail for partner %s not sent", partner.slug)
    return render_template("storefront/reset_sent.html",
                           email=services.normalise_email(form.email.data))


@bp.get("/reset/<token>")
def reset_link(token: str) -> Response:
    links.stash("reset", token)
    return redirect(url_for("accounts.reset_password"))


@bp.route("/reset/new", methods=["GET", "POST"])
@limiter.limit("10/minute", methods=["POST"])
def reset_password() -> Page:
    token = links.stashed("reset")
    user = services.user_for_token(token, services.RESET) if token else None
    if user is None:
        state = services.token_state(token, services.RESET) if token else LinkState.UNKNOWN
        return render_template("storefront/reset_refused.html", state=str(state)), \
            state.http_status
    form = NewPasswordForm()
    form.staff = user.is_staff  # type: ignore[attr-defined]
    form.password_inputs = (user.email, user.name)  # type: ignore[attr-defined]
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return render_template("storefront/reset_password.html", form=form, user=user), status
    assert token is not None
    done = services.reset_password(token, form.password.data)
    links.drop("reset")
    if done is None:
        return render_template("storefront/reset_refused.html", state="used"), 410
    sessions.end("password reset")
    flash(_("Your password is changed and every session of your account is closed. Sign in "
            "with the new password."), "success")
    target = "reseller.signin" if done.role == Role.RESELLER else "accounts.signin"
    return redirect(url_for(target))


@bp.route("/password", methods=["GET", "POST"])
@limiter.limit("10/hour", methods=["POST"])
@buyer_required
def change_password() -> Page:
    """Change the password on the current one; the account's other sessions end."""
    return password_page("storefront/change_password.html", "accounts.orders")


def password_page(template: str, done: str) -> Page:
    """The change-password form of the signed-in person (buyer or reseller pages)."""
    signed = sessions.current()
    assert signed is not None
    user = signed.user
    form = ChangePasswordForm()
    form.staff = user.is_staff  # type: ignore[attr-defined]
    form.password_inputs = (user.email, user.name)  # type: ignore[attr-defined]
    if form.validate_on_submit():
        if services.change_password(user, form.current.data, form.password.data,
                                    keep_session=signed.record_id):
            sessions.regenerate()
            flash(_("Your password is changed; your other sessions are closed."), "success")
            return redirect(url_for(done))
        form.current.errors = [_("This is not your current password.")]
        return render_template(template, form=form, user=user), 400
    status = 400 if request.method == "POST" else 200
    return render_template(template, form=form, user=user), status


@bp.post("/sessions/<uuid:record_id>/end")
@buyer_required
def end_session(record_id: uuid.UUID) -> Response:
    """End one of the buyer's own sessions (a lost phone, a shared computer)."""
    if not EmptyForm().validate():
        abort(400)
    user = current_buyer()
    assert user is not None
    if records.end_session(user.id, record_id, "ended by its owner"):
        flash(_("That session is closed."), "success")
    return redirect(url_for("accounts.orders"))


@bp.post("/signout")
def signout() -> Response:
    if not EmptyForm().validate():
        abort(400)
    sessions.end("signed out")
    flash(_("You are signed out."), "success")
    return redirect(url_for("shop.home"))


@bp.route("/")
@buyer_required
def orders() -> str:
    partner = current_partner()
    user = current_buyer()
    assert user is not None
    return render_template(
        "storefront/account.html",
        orders=services.orders_of(user, partner),
        signout_form=EmptyForm(),
        resend_form=EmptyForm(),
        user=user,
        subscriptions=subscriptions_of_user(user, partner.id),
        open_sessions=records.live_sessions(user.id),
        this_session=sessions.current(),
    )


def _own_subscription(number: str):  # type: ignore[no-untyped-def]
    user = current_buyer()
    assert user is not None
    sub = next((s for s in subscriptions_of_user(user, current_partner().id)
                if s.number == number), None)
    if sub is None:
        abort(404)
    return sub


@bp.get("/subscriptions")
@buyer_required
def subscriptions() -> Response:
    return redirect(url_for("accounts.orders", _anchor="subscriptions"))


@bp.route("/subscriptions/<number>", methods=["GET", "POST"])
@buyer_required
def subscription(number: str) -> Page:
    """One subscription: its users, term, next renewal and history; cancelling its renewal."""
    sub = _own_subscription(number)
    form = CancelSubscriptionForm()
    status = 200
    if request.method == "POST":
        if form.validate():
            try:
                cancel_at_period_end(sub, actor=f"buyer:{sub.email}")
            except SubscriptionError as exc:
                flash(str(exc), "error")
            else:
                flash(_("Your subscription will end on %(date)s; nothing more will be charged.",
                        date=sub.current_period_end.strftime("%d/%m/%Y")), "success")
                return redirect(url_for("accounts.subscription", number=sub.number))
        status = 400
    return render_template("storefront/subscription.html", sub=sub, form=form,
                           charges=charges_of(sub)), status


@bp.get("/data.json")
@limiter.limit("10/hour")
@buyer_required
def export_data() -> Response:
    """Download everything the shop holds about the signed-in buyer, as JSON."""
    user = current_buyer()
    assert user is not None
    subject = privacy.subject_for_user(user)
    data = privacy.export_data(subject, email_proven=subject.email_proven)
    log.info("privacy: user %s downloaded their data", user.id)
    body = json.dumps(data, ensure_ascii=False, indent=2)
    return Response(body, mimetype="application/json", headers={
        "Content-Disposition": 'attachment; filename="my-data.json"',
        "Cache-Control": "no-store"})


@bp.route("/erase", methods=["GET", "POST"])
@limiter.limit("10/hour", methods=["POST"])
@buyer_required
def erase() -> Page:
    """Erase the buyer's account and data, on their password and a clear warning."""
    user = current_buyer()
    assert user is not None
    subject = privacy.subject_for_user(user)
    form = EraseAccountForm()
    refusal = None
    try:
        privacy.check_erasable(subject)
    except privacy.ErasureRefused:
        refusal = "unconfirmed" if not subject.email_proven else "in_progress"
    if form.validate_on_submit() and refusal is None:
        if check_password(user.password_hash, form.password.data):
            privacy.erase(subject, actor=f"buyer:{user.id}")
            sessions.end("account erased")
            flash(_("Your account and your personal data are erased."), "success")
            return redirect(url_for("shop.home"))
        log.warning("security: erasure of user %s refused: wrong password", user.id)
        form.password.errors = [_("This is not your password.")]
    status = 400 if request.method == "POST" else 200
    return render_template("storefront/account_erase.html", form=form, user=user,
                           orders=len(subject.orders), refusal=refusal), status
