"""Back office: a network's resellers, their programme role, distributor and language.

Each change goes through commissions/channel.py, which checks it and writes the audit row; a
refused change is flashed with its reason and nothing is stored.
"""

from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from commerce.models import Partner
from commissions.channel import LOCALES, changes_of, set_language, set_programme_role
from commissions.errors import CommissionError
from commissions.models import ProgrammeRole, Reseller
from commissions.programmes import programme_for
from commissions.rules import percent
from extensions import db
from storefront.backoffice.auth import operator_required
from storefront.backoffice.blueprint import bp
from storefront.backoffice.views import operator_actor
from storefront.forms import EmptyForm


def _partner(slug: str) -> Partner:
    return db.session.scalar(select(Partner).where(Partner.slug == slug)) or abort(404)


def _reseller(partner: Partner, code: str) -> Reseller:
    reseller = db.session.scalar(select(Reseller).where(Reseller.code == code.upper(),
                                                        Reseller.partner_id == partner.id))
    return reseller or abort(404)


@bp.route("/partners/<slug>/resellers")
@operator_required
def partner_resellers(slug: str) -> str:
    partner = _partner(slug)
    resellers = list(db.session.scalars(select(Reseller).where(Reseller.partner_id == partner.id)
                                        .order_by(Reseller.code)))
    distributors = [r for r in resellers if r.programme_role == ProgrammeRole.DISTRIBUTOR]
    history = {r.id: changes_of(r)[:5] for r in resellers}
    programme = programme_for(partner.id)
    share_text = percent(programme.distributor_share) if programme else ""
    return render_template("backoffice/resellers.html", partner=partner, resellers=resellers,
                           distributors=distributors, history=history, programme=programme,
                           share_text=share_text, form=EmptyForm(), logout_form=EmptyForm())


@bp.post("/partners/<slug>/resellers/<code>")
@operator_required
def partner_reseller_change(slug: str, code: str) -> Response:
    if not EmptyForm().validate():
        abort(400)
    partner = _partner(slug)
    reseller = _reseller(partner, code)
    back = redirect(url_for("backoffice.partner_resellers", slug=partner.slug)
                    + f"#r-{reseller.code}")
    role = request.form.get("programme_role", "")
    distributor = request.form.get("distributor", "") if role == ProgrammeRole.INDIRECT else ""
    locale = request.form.get("locale", "")
    reason = request.form.get("reason", "")
    actor = operator_actor()
    if locale not in ("", *LOCALES):  # checked first: a refused form changes nothing
        flash(_("%(code)s not changed: choose French or English.", code=reseller.code), "error")
        return back
    try:
        role_change = set_programme_role(reseller, role, distributor, actor, reason)
        language_change = set_language(reseller, locale, actor)
    except CommissionError as exc:
        db.session.rollback()
        flash(_("%(code)s not changed: %(reason)s", code=reseller.code, reason=str(exc)), "error")
        return back
    if role_change or language_change:
        flash(_("%(code)s is saved.", code=reseller.code), "success")
    else:
        flash(_("%(code)s was already so: nothing changed.", code=reseller.code), "info")
    return back
