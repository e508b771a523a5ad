"""Reseller portal pages on the network partner's shop, under /reseller."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import force_locale, format_date, get_locale
from flask_babel import gettext as _

from accounts import totp
from accounts.factors import PASSWORD, TOTP
from accounts.sessions import Door
from commerce.links import shop_url
from commerce.models import User, utcnow
from commissions import UnknownReseller, commissions_csv, ledger_for
from commissions.bank import mask_iban
from commissions.benefits import benefit_status
from commissions.channel import distributor_network, set_language
from commissions.errors import ChannelError, InvalidBankDetails
from commissions.models import ProgrammeRole, Reseller
from commissions.payouts import outlook as payout_outlook
from extensions import db, limiter
from invoicing.services import document_for_order, documents_by_order
from reseller import services
from storefront import paging
from storefront.forms import EmptyForm, SignInForm
from storefront.invoices import pdf_response
from storefront.reseller.forms import (
    BankDetailsForm,
    CodeForm,
    LanguageForm,
    SubscriptionChangeForm,
)
from storefront.security import sessions
from storefront.security.doors import safe_next
from storefront.security.throttle import STAFF_ACCOUNT_LIMIT, sign_in_limits
from storefront.tenancy import current_partner

log = logging.getLogger("comptoir.security")

bp = Blueprint("reseller", __name__, url_prefix="/reseller")

# The "password accepted, code still owed" marker lives this long in the session.
HALF_SIGNED_IN_SECONDS = 300
HALF_KEY = "reseller_half_signed_in"
PENDING_TOTP_KEY = "reseller_totp_pending"


@bp.before_request
def require_partner() -> None:
    current_partner()


def signed_in_reseller() -> Reseller | None:
    """The reseller of this shop's network signed in at the reseller door with what it asks.

    Once a reseller has two-step sign-in on, a session that did not pass the code (one opened
    before it was turned on) is not enough.
    """
    signed = sessions.at_door(Door.RESELLER)
    if signed is None:
        return None
    reseller = services.portal_reseller(signed.user.id, current_partner())
    if reseller is None or (services.totp_enabled(reseller) and TOTP not in signed.factors):
        return None
    return reseller


def reseller_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Give the view the signed-in reseller of this shop's network, or send to sign-in."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        reseller = signed_in_reseller()
        if reseller is None:
            return redirect(url_for("reseller.signin", next=request.script_root + request.path))
        return view(reseller, *args, **kwargs)

    return wrapped


def _source() -> str | None:
    return request.remote_addr


# --- signing in ---------------------------------------------------------------------------------


@bp.route("/signin", methods=["GET", "POST"])
@sign_in_limits(STAFF_ACCOUNT_LIMIT)
def signin() -> Response | str | tuple[str, int]:
    """The reseller door: this network's reseller accounts only, then their code if they set one."""
    partner = current_partner()
    if request.method == "GET" and signed_in_reseller() is not None:
        return redirect(url_for("reseller.dashboard"))
    form = SignInForm()
    if form.validate_on_submit():
        reseller = services.authenticate_reseller(partner, form.email.data, form.password.data)
        if reseller is not None and reseller.user_id is not None:
            target = safe_next(url_for("reseller.dashboard"))
            if services.totp_enabled(reseller):
                sessions.regenerate()
                session[HALF_KEY] = {"user": str(reseller.user_id), "partner": str(partner.id),
                                     "at": int(time.time()), "next": target}
                return redirect(url_for("reseller.signin_code"))
            _sign_in(reseller.user_id, [PASSWORD])
            return redirect(target)
        log.info("security: reseller sign-in failed for %s from %s", form.email.data,
                 request.remote_addr)
        form.password.errors = [_("E-mail address or password is wrong.")]
        return render_template("reseller/signin.html", form=form), 401
    status = 400 if request.method == "POST" else 200
    return render_template("reseller/signin.html", form=form), status


def _sign_in(user_id: uuid.UUID, passed: list[str]) -> None:
    user = db.session.get(User, user_id)
    assert user is not None
    session.pop(HALF_KEY, None)
    sessions.begin(user, Door.RESELLER, passed)
    flash(_("You are signed in to the reseller portal."), "success")


def _half_signed_in() -> tuple[Reseller, str] | None:
    marker = session.get(HALF_KEY)
    partner = current_partner()
    if not isinstance(marker, dict) or marker.get("partner") != str(partner.id):
        return None
    if time.time() - float(marker.get("at", 0)) > HALF_SIGNED_IN_SECONDS:
        session.pop(HALF_KEY, None)
        return None
    try:
        reseller = services.portal_reseller(uuid.UUID(marker["user"]), partner)
    except (KeyError, ValueError):
        return None
    return (reseller, str(marker.get("next") or "")) if reseller is not None else None


@bp.route("/signin/code", methods=["GET", "POST"])
@limiter.limit("10/minute;50/hour", methods=["POST"])
def signin_code() -> Response | str | tuple[str, int]:
    pending = _half_signed_in()
    if pending is None:
        flash(_("Sign in again: the code must be given within five minutes."), "error")
        return redirect(url_for("reseller.signin"))
    reseller, target = pending
    form = CodeForm()
    if form.validate_on_submit():
        if services.check_totp(reseller, form.code.data) and reseller.user_id is not None:
            _sign_in(reseller.user_id, [PASSWORD, TOTP])
            return redirect(target or url_for("reseller.dashboard"))
        form.code.errors = [_("This code is wrong or has expired; enter the current one.")]
        return render_template("reseller/signin_code.html", form=form), 401
    status = 400 if request.method == "POST" else 200
    return render_template("reseller/signin_code.html", form=form), status


@bp.post("/signout")
def signout() -> Response:
    if not EmptyForm().validate():
        abort(400)
    sessions.end("signed out")
    flash(_("You are signed out."), "success")
    return redirect(url_for("reseller.signin"))


# --- dashboard ----------------------------------------------------------------------------------


def _referral_link(reseller: Reseller) -> str:
    return f"{shop_url(current_partner())}/?ref={reseller.code}"


@bp.route("/")
@reseller_required
def dashboard(reseller: Reseller) -> str:
    from credit.accounts import account_of, standing

    link = _referral_link(reseller)
    now = utcnow()
    account = account_of(reseller)
    return render_template("reseller/dashboard.html", reseller=reseller, active="dashboard",
                           board=services.dashboard(reseller, now), referral_link=link,
                           referral_qr=totp.qr_data_uri(link),
                           iban=mask_iban(reseller.bank_iban),
                           benefit=benefit_status(reseller, now),
                           credit=standing(account, now) if account is not None else None)


# --- a distributor's indirect resellers ---------------------------------------------------------


@bp.route("/network")
@reseller_required
def network(reseller: Reseller) -> str:
    """A distributor's indirect resellers, their sales and both shares; 404 for anyone else."""
    if reseller.programme_role != ProgrammeRole.DISTRIBUTOR:
        abort(404)
    return render_template("reseller/network.html", reseller=reseller, active="network",
                           network=distributor_network(reseller))


# --- settings -----------------------------------------------------------------------------------


@bp.route("/settings", methods=["GET", "POST"])
@reseller_required
def settings(reseller: Reseller) -> Response | str | tuple[str, int]:
    """The reseller's language, for the portal and the weekly digest."""
    form = LanguageForm(locale=reseller.locale or str(get_locale()))
    if form.validate_on_submit():
        try:
            set_language(reseller, form.locale.data, f"reseller:{reseller.code}")
        except ChannelError:
            form.locale.errors = [_("Choose French or English.")]
        else:
            with force_locale(form.locale.data):
                flash(_("Your language is saved: the portal and your weekly digest use it."),
                      "success")
            return redirect(url_for("reseller.settings"))
    status = 400 if request.method == "POST" else 200
    return render_template("reseller/settings.html", reseller=reseller, active="settings",
                           form=form), status


# --- clients and licences -----------------------------------------------------------------------


@bp.route("/clients")
@reseller_required
def clients(reseller: Reseller) -> str:
    query = (request.args.get("q") or "").strip()[:120]
    page = paging.page_or_404(lambda n: services.search_clients(reseller, query, n))
    return render_template("reseller/clients.html", reseller=reseller, active="clients",
                           page=page, clients=page.items, query=query)


@bp.route("/clients/<uuid:client_id>")
@reseller_required
def client(reseller: Reseller, client_id: uuid.UUID) -> str:
    try:
        found = services.client_of(reseller, client_id)
    except services.NotVisible:
        abort(404)
    orders = services.client_orders(reseller, found)
    return render_template("reseller/client.html", reseller=reseller, active="clients",
                           client=found, orders=orders,
                           documents=documents_by_order([o.id for o in orders]),
                           licences=services.client_licences(orders, utcnow()),
                           name=orders[0].name if orders else "")


# --- clients' subscriptions --------------------------------------------------------------------


@bp.route("/subscriptions")
@reseller_required
def subscriptions(reseller: Reseller) -> str:
    from subscriptions.services import subscriptions_of_reseller

    return render_template("reseller/subscriptions.html", reseller=reseller,
                           active="subscriptions", subscriptions=subscriptions_of_reseller(
                               reseller.id))


def _client_subscription(reseller: Reseller, number: str):  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from subscriptions.models import Subscription

    sub = db.session.scalar(select(Subscription).where(Subscription.number == number,
                                                       Subscription.reseller_id == reseller.id))
    if sub is None:
        abort(404)
    return sub


def _change_choices(sub) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """The plans of the client's term this shop sells: the client's own first (more users)."""
    from sqlalchemy import select

    from commerce.models import PartnerProduct, Product

    owned = [(i.product_code, _("More users of %(name)s", name=i.product_name))
             for i in sub.items]
    others = db.session.execute(
        select(Product.code, Product.name).join(PartnerProduct,
                                                PartnerProduct.product_id == Product.id)
        .where(PartnerProduct.partner_id == sub.partner_id, PartnerProduct.available.is_(True),
               Product.licence_type == "subscription", Product.term_months == sub.term_months,
               Product.code.not_in([code for code, _label in owned]))
        .order_by(Product.name)).all()
    return owned + [(code, _("Add the application %(name)s", name=name))
                    for code, name in others]


@bp.route("/subscriptions/<number>", methods=["GET", "POST"])
@reseller_required
def subscription(reseller: Reseller, number: str) -> str | tuple[str, int]:
    """A client's subscription: seats, term, renewal, history; prepare users or an application."""
    from subscriptions.services import SubscriptionError, charges_of, prepare_change

    sub = _client_subscription(reseller, number)
    form = SubscriptionChangeForm()
    form.product.choices = _change_choices(sub)
    link, status = None, 200
    if request.method == "POST":
        if form.validate():
            try:
                _change, token = prepare_change(sub, reseller.id, form.product.data or "",
                                                int(form.seats.data or 0), utcnow(),
                                                note=form.note.data or "")
            except SubscriptionError as exc:
                form.seats.errors = [str(exc)]
                status = 400
            else:
                link = f"{shop_url(current_partner())}/subscriptions/change/{token}"
        else:
            status = 400
    return render_template("reseller/subscription.html", reseller=reseller,
                           active="subscriptions", sub=sub, form=form, link=link,
                           charges=charges_of(sub)), status


@bp.route("/orders/<uuid:order_id>/invoices/<number>.pdf")
@reseller_required
def invoice_pdf(reseller: Reseller, order_id: uuid.UUID, number: str) -> Response:
    """An invoice or credit note of one of the reseller's own clients' orders; 404 otherwise."""
    try:
        order = services.visible_order(reseller, order_id)
    except services.NotVisible:
        abort(404)
    invoice = document_for_order(order.id, number)
    if invoice is None:
        abort(404)
    return pdf_response(invoice)


@bp.route("/licences/<uuid:line_id>")
@reseller_required
def licence(reseller: Reseller, line_id: uuid.UUID) -> tuple[str, int]:
    try:
        pulled = services.pull_licence(reseller, line_id, _source())
    except services.NotVisible:
        abort(404)
    status = {"unavailable": 503, "damaged": 500}.get(pulled.problem or "", 200)
    return render_template("reseller/licence.html", reseller=reseller, active="clients",
                           pulled=pulled, resend_form=EmptyForm()), status


@bp.post("/licences/<uuid:line_id>/resend")
@reseller_required
def resend(reseller: Reseller, line_id: uuid.UUID) -> Response:
    if not EmptyForm().validate():
        abort(400)
    try:
        pulled = services.resend_licence(reseller, line_id, _source())
    except services.NotVisible:
        abort(404)
    if pulled.contents is not None:
        flash(_("The licence was sent again to %(email)s.", email=pulled.order.email), "success")
    elif pulled.expired_on is not None:
        flash(_("Nothing was sent: this backup expired on %(date)s.",
                date=format_date(pulled.expired_on, "long")), "error")
    else:
        flash(_("Nothing was sent: the stored licence cannot be read right now."), "error")
    return redirect(url_for("reseller.client", client_id=pulled.client.id))


# --- commissions --------------------------------------------------------------------------------


@bp.route("/commissions")
@reseller_required
def commissions(reseller: Reseller) -> str:
    try:
        ledger = ledger_for(reseller.code, partner_id=reseller.partner_id)
    except UnknownReseller:
        abort(404)
    return render_template("reseller/commissions.html", reseller=reseller, active="commissions",
                           ledger=ledger)


@bp.route("/commissions.csv")
@reseller_required
def commissions_export(reseller: Reseller) -> Response:
    filename = f"commissions-{reseller.code}-{utcnow().date().isoformat()}.csv"
    return Response(commissions_csv(reseller.code), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# --- bank details -------------------------------------------------------------------------------


@bp.route("/bank-details", methods=["GET", "POST"])
@limiter.limit("10/hour", methods=["POST"])
@reseller_required
def bank_details(reseller: Reseller) -> Response | str | tuple[str, int]:
    """The account payouts go to: shown masked, changed on the password (and code, if set)."""
    form = BankDetailsForm()
    two_step = services.totp_enabled(reseller)
    if request.method == "GET" and reseller.has_bank_details:
        form.holder.data = reseller.bank_holder
        form.bic.data = reseller.bank_bic
    if form.validate_on_submit():
        try:
            services.change_bank_details(
                reseller, form.iban.data, form.bic.data, form.holder.data,
                password=form.password.data, code=form.code.data if two_step else None,
                source=_source())
        except services.NotConfirmed as exc:
            target = form.code if exc.field == "code" else form.password
            target.errors = [_("This code is wrong or has expired; enter the current one.")
                             if exc.field == "code" else _("This is not your current password.")]
        except InvalidBankDetails as exc:
            for name, why in exc.problems.items():
                getattr(form, name).errors = [str(why)]
        else:
            flash(_("Your bank details are saved; we sent a notice to %(email)s.",
                    email=reseller.email), "success")
            return redirect(url_for("reseller.bank_details"))
    status = 400 if request.method == "POST" else 200
    return render_template("reseller/bank_details.html", reseller=reseller, active="bank",
                           form=form, two_step=two_step, iban=mask_iban(reseller.bank_iban),
                           outlook=payout_outlook(reseller, utcnow())), status


# --- two-step sign-in ---------------------------------------------------------------------------


def _pending_secret(reseller: Reseller) -> str:
    """The secret being enrolled, kept sealed in the session until a code confirms it."""
    owner = f"pending:{reseller.id}"
    sealed = session.get(PENDING_TOTP_KEY)
    if isinstance(sealed, str):
        try:
            return totp.open_secret(sealed, owner)
        except totp.TotpError:
            pass
    secret = totp.new_secret()
    session[PENDING_TOTP_KEY] = totp.seal_secret(secret, owner)
    return secret


def _security_page(reseller: Reseller, form: CodeForm) -> str:
    context: dict[str, Any] = {"reseller": reseller, "active": "security", "form": form,
                               "enabled": services.totp_enabled(reseller)}
    if not context["enabled"]:
        secret = _pending_secret(reseller)
        uri = totp.provisioning_uri(secret, reseller.email, current_partner().name)
        context.update(secret=totp.grouped(secret), uri=uri, qr=totp.qr_data_uri(uri))
    return render_template("reseller/security.html", **context)


@bp.route("/security/password", methods=["GET", "POST"])
@limiter.limit("10/hour", methods=["POST"])
@reseller_required
def change_password(reseller: Reseller) -> Response | str | tuple[str, int]:
    """Change the portal password on the current one; the other sessions end."""
    from storefront.accounts.views import password_page

    return password_page("reseller/change_password.html", "reseller.security")


@bp.route("/security")
@reseller_required
def security(reseller: Reseller) -> str:
    return _security_page(reseller, CodeForm())


@bp.post("/security/totp")
@limiter.limit("10/minute")
@reseller_required
def enable_totp(reseller: Reseller) -> Response | tuple[str, int]:
    form = CodeForm()
    if services.totp_enabled(reseller):
        return redirect(url_for("reseller.security"))
    if form.validate_on_submit():
        if services.enable_totp(reseller, _pending_secret(reseller), form.code.data):
            session.pop(PENDING_TOTP_KEY, None)
            sessions.add_factor(TOTP)  # this session passed the new code: a new session id
            flash(_("Two-step sign-in is on: we will ask for a code each time you sign in."),
                  "success")
            return redirect(url_for("reseller.security"))
        form.code.errors = [_("This code does not match; check the time on your phone and "
                              "enter the current code.")]
    return _security_page(reseller, form), 400


@bp.post("/security/totp/disable")
@limiter.limit("10/minute")
@reseller_required
def disable_totp(reseller: Reseller) -> Response | tuple[str, int]:
    form = CodeForm()
    if form.validate_on_submit():
        if services.disable_totp(reseller, form.code.data):
            flash(_("Two-step sign-in is off."), "success")
            return redirect(url_for("reseller.security"))
        form.code.errors = [_("This code is wrong or has expired; enter the current one.")]
    return _security_page(reseller, form), 400
