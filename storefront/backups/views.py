"""A buyer finding a licence again on a partner's shop: from the account or an e-mailed link."""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import replace
from datetime import timedelta

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _

from backups import links, services
from backups.mail import send_access_link, utc_date
from backups.vault import (
    Actor,
    ActorKind,
    BackupExpired,
    BackupNotFound,
    BackupUnavailable,
    TamperedBackup,
    VaultError,
    get_backup,
)
from backups.vault.models import BackupStatus, utcnow
from backups.vault.services import add_years
from commerce.links import shop_url
from commerce.models import OrderLine, Partner
from commerce.orders import (
    ADDON_BACKUP,
    BuyerDetails,
    line_amounts,
    offer_for,
    place_backup_renewal,
)
from commerce.tax import TaxError, decide
from commerce.taxation import Assessment, assess
from commissions import attribute_order
from extensions import db, limiter
from legal import terms as legal_terms
from storefront.backups.forms import FindLicenceForm, RenewalForm
from storefront.forms import EmptyForm
from storefront.security import links as secret_links
from storefront.security import sessions
from storefront.security.doors import current_buyer
from storefront.shop import referrals
from storefront.tenancy import current_partner

log = logging.getLogger("comptoir.backups")

bp = Blueprint("backups", __name__, url_prefix="/backups")

SESSION_PREFIX = "backups:"
# How long an opened link lets this browser see the backups.
SESSION_LIFETIME = timedelta(minutes=30)
ORDER_NUMBER_RE = re.compile(r"^CPT-\d{4}-\d{6}$")

Page = Response | str | tuple[str, int]


@bp.before_request
def require_partner() -> None:
    current_partner()


@bp.route("/")
def mine() -> Response | str:
    partner = current_partner()
    email = link_email(partner)
    if email is None:
        if current_buyer() is not None:
            return redirect(url_for("accounts.orders"))
        return redirect(url_for("backups.find"))
    section = services.buyer_backups(services.email_scope(email, partner))
    return render_template("storefront/backups/mine.html", section=section, email=email)


@bp.route("/<uuid:backup_id>")
def show(backup_id: uuid.UUID) -> Page:
    scope = _scope_or_none()
    if scope is None:
        return redirect(url_for("backups.find"))
    try:
        licence = services.open_for_buyer(scope, backup_id, _actor(scope))
    except VaultError as exc:
        return _refusal_page(exc)
    return render_template("storefront/backups/licence.html", licence=licence, now=utcnow())


@bp.post("/<uuid:backup_id>/resend")
def resend(backup_id: uuid.UUID) -> Page:
    if not EmptyForm().validate():
        abort(400)
    scope = _scope_or_none()
    if scope is None:
        return redirect(url_for("backups.find"))
    try:
        to = services.resend_for_buyer(scope, backup_id, _actor(scope))
    except VaultError as exc:
        return _refusal_page(exc)
    except Exception:  # noqa: BLE001 - the mail server refused: say so, the buyer can retry
        log.exception("backups: licence e-mail for backup %s not sent", backup_id)
        flash(_("We could not send the e-mail just now. Please try again in a few minutes."),
              "error")
        return redirect(url_for("backups.mine"))
    flash(_("We have sent your licence to %(email)s.", email=to), "success")
    return redirect(url_for("backups.mine"))


@bp.route("/find", methods=["GET", "POST"])
@limiter.limit("5/minute;20/hour", methods=["POST"])
def find() -> Page:
    partner = current_partner()
    form = FindLicenceForm()
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return render_template("storefront/backups/find.html", form=form), status
    issued = links.issue_link(partner, form.email.data)
    if issued is not None:
        try:
            send_access_link(partner, issued.email,
                             f"{shop_url(partner)}/backups/link/{issued.token}",
                             issued.expires_at)
        except Exception:  # noqa: BLE001 - the answer must not tell whether a link existed
            log.exception("backups: access link e-mail for partner %s not sent", partner.slug)
    # The same page whether or not the address has backups here.
    return render_template("storefront/backups/find_sent.html", email=form.email.data)


@bp.get("/link/<token>")
@limiter.limit("20/minute")
def link_token(token: str) -> Response:
    """The e-mailed link: its token goes into this browser's session, out of the address bar."""
    secret_links.stash("backups", token)
    return redirect(url_for("backups.link"))


@bp.route("/link", methods=["GET", "POST"])
@limiter.limit("20/minute", methods=["POST"])
def link() -> Page:
    partner = current_partner()
    token = secret_links.stashed("backups")
    if token is None:
        return _link_refused(links.LinkState.UNKNOWN)
    if request.method == "GET":
        # Opening is a button, not the GET: mail scanners that follow links must not use it up.
        state = links.link_state(partner, token)
        if state != links.LinkState.VALID:
            return _link_refused(state)
        return render_template("storefront/backups/link.html")
    if not EmptyForm().validate():
        abort(400)
    try:
        email = links.redeem_link(partner, token)
    except links.LinkRefused as exc:
        return _link_refused(exc.state)
    finally:
        secret_links.drop("backups")
    sessions.regenerate()  # this browser now reaches the address's licences: a new session id
    session[_session_key(partner)] = {
        "email": email, "until": int((utcnow() + SESSION_LIFETIME).timestamp())}
    return redirect(url_for("backups.mine"))


@bp.post("/leave")
def leave() -> Response:
    if not EmptyForm().validate():
        abort(400)
    session.pop(_session_key(current_partner()), None)
    flash(_("Your licences are closed on this browser."), "success")
    return redirect(url_for("shop.home"))


@bp.route("/renew")
def renew() -> Response:
    """Where the reminder e-mail's renew link lands: the buyer's backups, to pick one to renew."""
    return redirect(url_for("backups.mine") if link_email(current_partner())
                    else url_for("accounts.orders") if current_buyer() is not None
                    else url_for("backups.find"))


@bp.route("/<uuid:backup_id>/renew", methods=["GET", "POST"])
def renew_backup(backup_id: uuid.UUID) -> Page:
    """Buy two more years of a backup: a one-line order, paid like any other."""
    from storefront.shop.views import accepted_terms, pay_or_retry_later, remember_order

    partner = current_partner()
    scope = _scope_or_none()
    backup = get_backup(backup_id)
    if scope is None:
        return redirect(url_for("backups.find"))
    if backup is None or not scope.covers(backup):
        abort(404)
    offer = offer_for(partner, ADDON_BACKUP)
    renewable = offer is not None and backup.status in (BackupStatus.STORED, BackupStatus.EXPIRED,
                                                        BackupStatus.PENDING)
    until = add_years(max(backup.expires_at, utcnow()), 2)
    form = RenewalForm()
    if request.method == "GET":
        form.terms_version.data = legal_terms.in_force().version
    billed, assessment = _renewal_tax(partner, backup.order_line_ref)
    price = (line_amounts(offer.price_cents, offer.product.vat_rate, 1, assessment.decision)[1]
             if offer is not None else None)
    context = {"backup": backup, "offer": offer, "until": until, "renewable": renewable,
               "form": form, "price": price, "tax": assessment.decision}
    if request.method == "GET" or not renewable:
        status = 200 if renewable else 409
        return render_template("storefront/backups/renew.html", **context), status
    terms_version = accepted_terms(form) if form.validate() else None
    if terms_version is None:
        return render_template("storefront/backups/renew.html", **context), 400
    buyer = current_buyer()
    order = place_backup_renewal(
        partner, backup.id, until,
        replace(billed, email=backup.buyer_ref or scope.primary_email,
                name=billed.name or (buyer.name if buyer is not None else ""),
                locale=str(get_locale() or "fr")),
        user=buyer,
        consent_at=utcnow(), consent_version=current_app.config["CONSENT_WORDING_VERSION"],
        gateway=current_app.config["PAYMENT_GATEWAY"],
        tax=assessment.decision, vies=assessment.vies,
    )
    order.terms_version = terms_version
    db.session.flush()
    attribute_order(order, cookie_code=referrals.referral_code(partner), source="shop")
    db.session.commit()
    remember_order(order)
    return pay_or_retry_later(order)


def _renewal_tax(partner: Partner, order_line_ref: str) -> tuple[BuyerDetails, Assessment]:
    """A renewal is billed as the backup's order was (docs/vat.md): the same country, company,
    VAT number and address, VIES asked again for a business abroad. A number VIES no longer
    confirms, or cannot check now, is taxed as a consumer of that country: a renewal is never
    held."""
    original = None
    try:
        line = db.session.get(OrderLine, uuid.UUID(order_line_ref))
        original = line.order if line is not None else None
    except ValueError:
        pass
    if original is None:
        return BuyerDetails(email="", name=""), Assessment(decide("FR"), "")
    billed = BuyerDetails(
        email=original.email, name=original.name, company=original.company,
        vat_number=original.vat_number, billing_country=original.billing_country,
        billing_line1=original.billing_line1, billing_postcode=original.billing_postcode,
        billing_city=original.billing_city)
    try:
        assessment = assess(partner, billed.billing_country, billed.vat_number)
    except TaxError:
        assessment = Assessment(decide(billed.billing_country), "")
    if assessment.held:
        assessment = replace(assessment, held=False)
    return replace(billed, vat_number=assessment.vat_number), assessment


def _refusal_page(exc: VaultError) -> Page:
    """Render a vault refusal: 404, "expired on <date>", or a clear error (never content)."""
    if isinstance(exc, BackupExpired):
        return render_template("storefront/backups/expired.html",
                               expired_on=utc_date(exc.expired_on))
    if isinstance(exc, TamperedBackup):
        return render_template("storefront/backups/problem.html", problem="tampered"), 500
    if isinstance(exc, BackupUnavailable):
        return render_template("storefront/backups/problem.html", problem="unavailable"), 503
    if isinstance(exc, BackupNotFound):
        abort(404)
    raise exc


def link_email(partner: Partner) -> str | None:
    """Return the e-mail an opened link proved in this browser for this shop, while it lasts."""
    marker = session.get(_session_key(partner))
    if not isinstance(marker, dict):
        return None
    if int(marker.get("until", 0)) <= utcnow().timestamp() or not marker.get("email"):
        session.pop(_session_key(partner), None)
        return None
    return str(marker["email"])


def account_backups() -> services.BuyerBackups | None:
    """Return the signed-in buyer's backups on this shop, for the account page."""
    partner = g.get("partner")
    buyer = current_buyer()
    if partner is None or buyer is None:
        return None
    return services.buyer_backups(services.account_scope(buyer, partner))


def _scope_or_none() -> services.BuyerScope | None:
    partner = current_partner()
    scope = None
    if (buyer := current_buyer()) is not None:
        scope = services.account_scope(buyer, partner)
    if (email := link_email(partner)) is not None:
        by_link = services.email_scope(email, partner)
        scope = by_link if scope is None else scope.merged(by_link)
    return scope


def _actor(scope: services.BuyerScope) -> Actor:
    buyer = current_buyer()
    who = buyer.email if buyer is not None else scope.primary_email
    return Actor(ActorKind.BUYER, who, request.remote_addr)


def _session_key(partner: Partner) -> str:
    return f"{SESSION_PREFIX}{partner.id}"


def _link_refused(state: links.LinkState) -> tuple[str, int]:
    status = links.LinkState(state).http_status
    return render_template("storefront/backups/link_refused.html", state=str(state)), status

