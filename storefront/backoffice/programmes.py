"""Back office: commission programmes, their versions of rates, promotions and product multipliers.

Each change posts to its own address, calls one service of commissions (programme_admin,
incentives) and commits; a refusal shows the form again with its messages and stores nothing.
A draft is published from its preview page, and a promotion or multiplier is created from the
preview of its values: the operator always sees last month's sales under the change first.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from commerce.models import Partner, utcnow
from commissions import audit, incentives, programme_admin
from commissions.errors import ProgrammeError
from commissions.models import ProductMultiplier, Programme, ProgrammeVersion, Promotion
from commissions.preview import Change, preview
from commissions.programmes import programme_for, published_versions, version_at
from commissions.rules import ActiveMultiplier, ActivePromotion, Rates
from extensions import db
from partners.validation import PartnerError, parse_moment
from storefront.backoffice.auth import operator_required
from storefront.backoffice.blueprint import bp
from storefront.backoffice.views import operator_actor
from storefront.forms import EmptyForm

PROMOTION_FIELDS = ("name", "multiplier", "starts_at", "ends_at", "family")
MULTIPLIER_FIELDS = ("name", "factor", "starts_at", "ends_at", "family", "product_codes")


def _checked() -> None:
    if not EmptyForm().validate():
        abort(400)


def _found(slug: str) -> tuple[Partner, Programme]:
    partner = db.session.scalar(select(Partner).where(Partner.slug == slug))
    programme = programme_for(partner.id) if partner is not None else None
    if partner is None or programme is None:
        abort(404)
    return partner, programme


def _common(**context: Any) -> dict[str, Any]:
    return {"csrf_form": EmptyForm(), "logout_form": EmptyForm(), **context}


@bp.route("/programmes")
@operator_required
def programmes() -> str:
    now = utcnow()
    rows = [(p, version_at(p, now), programme_admin.draft_of(p))
            for p in db.session.scalars(select(Programme).order_by(Programme.name))]
    taken = {p.partner_id for p, _v, _d in rows}
    free = [p for p in db.session.scalars(select(Partner).order_by(Partner.name))
            if p.id not in taken]
    return render_template("backoffice/programmes.html", **_common(rows=rows, free=free, now=now))


@bp.post("/programmes")
@operator_required
def programme_create() -> Response | tuple[str, int]:
    _checked()
    partner = db.session.scalar(select(Partner).where(
        Partner.slug == request.form.get("partner", "")))
    if partner is None:
        abort(400)
    try:
        days = int(request.form.get("attribution_days") or 30)
        hours = int(request.form.get("holding_hours") or 48)
    except ValueError:
        days = hours = -1
    try:
        programme_admin.create_programme(partner, operator_actor(), utcnow(),
                                         name=request.form.get("name") or None,
                                         attribution_days=days, holding_hours=hours)
    except ProgrammeError as exc:
        db.session.rollback()
        flash("; ".join(f"{k}: {v}" for k, v in exc.errors.items()), "error")
        return redirect(url_for("backoffice.programmes"))  # type: ignore[return-value]
    db.session.commit()
    flash(_("Programme created for %(partner)s: draft its first rates.", partner=partner.name),
          "success")
    return redirect(url_for("backoffice.programme", slug=partner.slug))


@bp.route("/programmes/<slug>")
@operator_required
def programme(slug: str) -> str:
    partner, found = _found(slug)
    now = utcnow()
    return render_template(
        "backoffice/programme.html", **_common(
            partner=partner, programme=found, now=now, in_force=version_at(found, now),
            versions=list(reversed(published_versions(found))),
            draft=programme_admin.draft_of(found), flat_rates=programme_admin.flat_rates,
            history=audit.history(found)))


def _version(found: Programme, version_id: uuid.UUID) -> ProgrammeVersion:
    version = next((v for v in found.versions if v.id == version_id), None)
    if version is None:
        abort(404)
    return version


@bp.post("/programmes/<slug>/versions")
@operator_required
def programme_draft(slug: str) -> Response:
    _checked()
    partner, found = _found(slug)
    try:
        version = programme_admin.draft_version(partner, operator_actor(), utcnow())
    except ProgrammeError as exc:
        db.session.rollback()
        flash("; ".join(exc.errors.values()), "error")
        return redirect(url_for("backoffice.programme", slug=slug))
    db.session.commit()
    return redirect(url_for("backoffice.programme_version", slug=slug, version_id=version.id))


def _rates_page(partner: Partner, found: Programme, version: ProgrammeVersion,
                values: dict[str, str], errors: dict[str, str], status: int = 200
                ) -> tuple[str, int]:
    keys = programme_admin.rate_keys(programme_admin.families_for(found), version.rates)
    return render_template("backoffice/programme_version.html", **_common(
        partner=partner, programme=found, version=version, keys=keys, values=values,
        errors=errors, note=request.form.get("note", version.note))), status


@bp.route("/programmes/<slug>/versions/<uuid:version_id>", methods=["GET", "POST"])
@operator_required
def programme_version(slug: str, version_id: uuid.UUID) -> Response | tuple[str, int]:
    partner, found = _found(slug)
    version = _version(found, version_id)
    if request.method == "GET":
        return _rates_page(partner, found, version, programme_admin.flat_rates(version.rates), {})
    _checked()
    keys = programme_admin.rate_keys(programme_admin.families_for(found), version.rates)
    values = {k: request.form.get(f"rate:{k}", "") for k in keys}
    try:
        programme_admin.update_draft(version, values, operator_actor(), utcnow(),
                                     note=request.form.get("note", ""), replace=True)
    except ProgrammeError as exc:
        db.session.rollback()
        return _rates_page(partner, found, _version(found, version_id), values, exc.errors, 400)
    db.session.commit()
    flash(_("Draft saved. Preview it before you publish it."), "success")
    return redirect(url_for("backoffice.programme_preview", slug=slug, version_id=version.id))


@bp.post("/programmes/<slug>/versions/<uuid:version_id>/discard")
@operator_required
def programme_discard(slug: str, version_id: uuid.UUID) -> Response:
    _checked()
    _, found = _found(slug)
    try:
        programme_admin.discard_draft(_version(found, version_id), operator_actor(), utcnow())
    except ProgrammeError as exc:
        db.session.rollback()
        flash("; ".join(exc.errors.values()), "error")
    else:
        db.session.commit()
        flash(_("Draft discarded."), "success")
    return redirect(url_for("backoffice.programme", slug=slug))


def _preview_page(partner: Partner, found: Programme, change: Change, template: str,
                  status: int = 200, **context: Any) -> tuple[str, int]:
    result = preview(found, change, utcnow())
    return render_template(template, **_common(partner=partner, programme=found, preview=result,
                                               **context)), status


@bp.route("/programmes/<slug>/versions/<uuid:version_id>/preview")
@operator_required
def programme_preview(slug: str, version_id: uuid.UUID) -> tuple[str, int]:
    partner, found = _found(slug)
    version = _version(found, version_id)
    if version.status != "draft":
        abort(404)
    return _preview_page(partner, found, Change(rates=Rates.from_json(version.rates)),
                         "backoffice/programme_publish.html", version=version,
                         values={"valid_from": ""}, errors={})


def _moment(field: str, errors: dict[str, str]) -> datetime | None:
    try:
        return parse_moment(request.form.get(field, ""), field)
    except PartnerError as exc:
        errors[field] = str(exc.errors[field])
        return None


@bp.post("/programmes/<slug>/versions/<uuid:version_id>/publish")
@operator_required
def programme_publish(slug: str, version_id: uuid.UUID) -> Response | tuple[str, int]:
    _checked()
    partner, found = _found(slug)
    version = _version(found, version_id)
    errors: dict[str, str] = {}
    valid_from = _moment("valid_from", errors)
    try:
        if valid_from is None:
            raise ProgrammeError(errors)
        programme_admin.publish_version(version, valid_from, operator_actor(), utcnow())
    except ProgrammeError as exc:
        db.session.rollback()
        version = _version(found, version_id)
        if version.status != "draft":
            flash(_("This draft was already published or discarded."), "error")
            return redirect(url_for("backoffice.programme", slug=slug))
        return _preview_page(partner, found, Change(rates=Rates.from_json(version.rates)),
                             "backoffice/programme_publish.html", 400, version=version,
                             values=dict(request.form), errors=exc.errors)
    db.session.commit()
    flash(_("Version %(label)s published: lines delivered from then on use it.",
            label=version.label), "success")
    return redirect(url_for("backoffice.programme", slug=slug))


def _window(errors: dict[str, str]) -> incentives.Window | None:
    starts, ends = _moment("starts_at", errors), _moment("ends_at", errors)
    return incentives.Window(starts, ends) if starts and ends else None


def _incentive_form(slug: str, kind: str, subject: Promotion | None = None
                    ) -> Response | tuple[str, int]:
    """New promotion or multiplier (or a promotion's edit): preview first, then save."""
    partner, found = _found(slug)
    fields = PROMOTION_FIELDS if kind == "promotion" else MULTIPLIER_FIELDS
    template = f"backoffice/programme_{kind}.html"
    families = programme_admin.catalogue_families(kind=None)
    if request.method == "GET":
        values = {f: "" for f in fields}
        if subject is not None:
            values = {"name": subject.name, "multiplier": str(subject.multiplier.normalize()),
                      "starts_at": _local(subject.starts_at), "ends_at": _local(subject.ends_at),
                      "family": subject.family or ""}
        return render_template(template, **_common(partner=partner, programme=found,
                                                   values=values, errors={}, preview=None,
                                                   families=families, subject=subject)), 200
    _checked()
    values = {f: request.form.get(f, "") for f in fields}
    errors: dict[str, str] = {}
    window = _window(errors)
    now = utcnow()
    try:
        if window is None:
            raise ProgrammeError(errors)
        if kind == "promotion":
            name, factor, family = incentives.check_promotion(
                values["name"], values["multiplier"], window, values["family"], now)
            change = Change(promotion=ActivePromotion(name, factor, family))
        else:
            name, factor, codes, family = incentives.check_multiplier(
                values["name"], values["factor"], window, now,
                product_codes=values["product_codes"].replace(",", " ").split(),
                family=values["family"])
            change = Change(multiplier=ActiveMultiplier(name, factor, frozenset(codes), family))
        if request.form.get("action") == "save":
            done = _save(partner, kind, subject, values, window, now)
            db.session.commit()
            flash(done, "success")
            return redirect(url_for("backoffice.programme", slug=slug))
    except ProgrammeError as exc:
        db.session.rollback()
        return render_template(template, **_common(partner=partner, programme=found,
                                                   values=values, errors=exc.errors,
                                                   preview=None, families=families,
                                                   subject=subject)), 400
    return _preview_page(partner, found, change, template, values=values, errors={},
                         families=families, subject=subject)


def _save(partner: Partner, kind: str, subject: Promotion | None, values: dict[str, str],
          window: incentives.Window, now: datetime) -> str:
    actor = operator_actor()
    if kind == "multiplier":
        multiplier = incentives.create_multiplier(
            partner, values["name"], values["factor"], window, actor, now,
            product_codes=values["product_codes"].replace(",", " ").split(),
            family=values["family"] or None)
        return _("Multiplier %(name)s created.", name=multiplier.name)
    if subject is None:
        promotion = incentives.create_promotion(partner, values["name"], values["multiplier"],
                                                window, actor, now,
                                                family=values["family"] or None)
        return _("Promotion %(name)s created.", name=promotion.name)
    incentives.edit_promotion(subject, values["name"], values["multiplier"], window, actor, now,
                              family=values["family"] or None)
    return _("Promotion %(name)s saved.", name=subject.name)


def _local(when: datetime) -> str:
    from partners.validation import SHOP_ZONE

    return when.astimezone(SHOP_ZONE).strftime("%Y-%m-%dT%H:%M")


@bp.route("/programmes/<slug>/promotions/new", methods=["GET", "POST"])
@operator_required
def programme_promotion_new(slug: str) -> Response | tuple[str, int]:
    return _incentive_form(slug, "promotion")


def _promotion(found: Programme, promotion_id: uuid.UUID) -> Promotion:
    promotion = next((p for p in found.promotions if p.id == promotion_id), None)
    if promotion is None:
        abort(404)
    return promotion


@bp.route("/programmes/<slug>/promotions/<uuid:promotion_id>", methods=["GET", "POST"])
@operator_required
def programme_promotion(slug: str, promotion_id: uuid.UUID) -> Response | tuple[str, int]:
    _, found = _found(slug)
    return _incentive_form(slug, "promotion", _promotion(found, promotion_id))


@bp.post("/programmes/<slug>/promotions/<uuid:promotion_id>/end")
@operator_required
def programme_promotion_end(slug: str, promotion_id: uuid.UUID) -> Response:
    _checked()
    _, found = _found(slug)
    promotion = _promotion(found, promotion_id)
    return _ended(slug, promotion.name,
                  lambda: incentives.end_promotion(promotion, operator_actor(), utcnow()))


@bp.route("/programmes/<slug>/multipliers/new", methods=["GET", "POST"])
@operator_required
def programme_multiplier_new(slug: str) -> Response | tuple[str, int]:
    return _incentive_form(slug, "multiplier")


@bp.post("/programmes/<slug>/multipliers/<uuid:multiplier_id>/end")
@operator_required
def programme_multiplier_end(slug: str, multiplier_id: uuid.UUID) -> Response:
    _checked()
    _, found = _found(slug)
    multiplier: ProductMultiplier | None = next(
        (m for m in found.multipliers if m.id == multiplier_id), None)
    if multiplier is None:
        abort(404)
    return _ended(slug, multiplier.name,
                  lambda: incentives.end_multiplier(multiplier, operator_actor(), utcnow()))


def _ended(slug: str, name: str, end: Any) -> Response:
    try:
        outcome = end()
    except ProgrammeError as exc:
        db.session.rollback()
        flash("; ".join(exc.errors.values()), "error")
    else:
        db.session.commit()
        flash(_("%(name)s withdrawn.", name=name) if outcome == "withdrawn"
              else _("%(name)s ended now.", name=name), "success")
    return redirect(url_for("backoffice.programme", slug=slug))


@bp.post("/programmes/<slug>/split")
@operator_required
def programme_split(slug: str) -> Response:
    """The distributor's share of an indirect reseller's margins (commissions/channel.py)."""
    from commissions.channel import parse_share, set_distributor_share
    from commissions.errors import ChannelError

    _checked()
    partner, _found_programme = _found(slug)
    try:
        share = parse_share(request.form.get("distributor_share", ""))
        set_distributor_share(partner, share, operator_actor(), utcnow())
    except ChannelError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(_("The distributor's share is now %(share)s of each indirect sale's margin.",
                share=f"{share * 100:g} %"), "success")
    return redirect(url_for("backoffice.programme", slug=slug, _anchor="channel"))


@bp.post("/programmes/<slug>/benefit")
@operator_required
def programme_benefit(slug: str) -> Response:
    """The newcomer offer: the self-use benefit, its public price and when it starts."""
    from commissions.benefits import set_benefit
    from commissions.errors import BenefitError
    from partners.validation import parse_price

    _checked()
    partner, _found_programme = _found(slug)
    try:
        cents = parse_price(request.form.get("benefit_price", ""))
        starts = parse_moment(request.form.get("benefit_starts_at", ""), "benefit_starts_at")
        set_benefit(partner, request.form.get("benefit_name", ""), cents, starts,
                    operator_actor(), utcnow())
    except PartnerError as exc:
        db.session.rollback()
        flash("; ".join(str(v) for v in exc.errors.values()), "error")
    except BenefitError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(_("The newcomer offer is saved."), "success")
    return redirect(url_for("backoffice.programme", slug=slug, _anchor="channel"))
