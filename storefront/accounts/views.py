"""Buyer account pages on a partner's shop."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from extensions import limiter
from storefront.accounts import services
from storefront.forms import EmptyForm, SignInForm, SignUpForm
from storefront.tenancy import current_partner

bp = Blueprint("accounts", __name__, url_prefix="/account")


@bp.before_request
def require_partner() -> None:
    current_partner()


def _safe_next(default: str) -> str:
    target = request.args.get("next", "")
    parts = urlsplit(target)
    if (
        target.startswith("/")
        and not target.startswith("//")
        and not parts.netloc
        and not parts.scheme
    ):
        return target
    return default


@bp.route("/signin", methods=["GET", "POST"])
@limiter.limit("10/minute;50/hour", methods=["POST"])
def signin() -> Response | str | tuple[str, int]:
    form = SignInForm()
    if form.validate_on_submit():
        user = services.authenticate(form.email.data, form.password.data)
        if user is not None:
            login_user(user)
            flash(_("You are signed in."), "success")
            return redirect(_safe_next(url_for("accounts.orders")))
        form.password.errors = [_("E-mail address or password is wrong.")]
        return render_template("storefront/signin.html", form=form), 401
    status = 400 if request.method == "POST" else 200
    return render_template("storefront/signin.html", form=form), status


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit("10/minute", methods=["POST"])
def signup() -> Response | str | tuple[str, int]:
    form = SignUpForm()
    if form.validate_on_submit():
        try:
            user = services.sign_up(form.email.data, form.name.data, form.password.data)
        except services.AccountError as exc:
            form.email.errors = (
                [_("An account already uses this e-mail address.")] if exc.field == "email" else []
            )
            return render_template("storefront/signup.html", form=form), 400
        login_user(user)
        flash(_("Welcome! Your account is ready."), "success")
        return redirect(_safe_next(url_for("accounts.orders")))
    status = 400 if request.method == "POST" else 200
    return render_template("storefront/signup.html", form=form), status


@bp.post("/signout")
def signout() -> Response:
    if not EmptyForm().validate():
        abort(400)
    logout_user()
    flash(_("You are signed out."), "success")
    return redirect(url_for("shop.home"))


@bp.route("/")
@login_required
def orders() -> str:
    partner = current_partner()
    return render_template(
        "storefront/account.html",
        orders=services.orders_of(current_user, partner),
        signout_form=EmptyForm(),
    )


@bp.route("/claim/<token>", methods=["GET", "POST"])
@login_required
def claim(token: str) -> Response | str:
    partner = current_partner()
    form = EmptyForm()
    if request.method == "GET":
        return render_template("storefront/claim.html", form=form, token=token)
    if not form.validate():
        abort(400)
    order = services.claim_order(token, current_user, partner)
    if order is None:
        flash(
            _("This link is not valid any more: the order may already be in an account."), "error"
        )
        return redirect(url_for("accounts.orders"))
    flash(_("Order %(number)s is now in your account.", number=order.number), "success")
    return redirect(url_for("shop.order_page", order_id=order.id))
