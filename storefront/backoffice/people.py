"""Back office: find a person's account, see and end their sessions, disable or enable it,
export or erase a buyer's personal data."""

from __future__ import annotations

import json
import logging
import uuid

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import func, select

from accounts import factors, privacy
from accounts import sessions as records
from commerce.models import User
from extensions import db
from storefront.backoffice.auth import current_operator, operator_required
from storefront.backoffice.blueprint import bp
from storefront.forms import EmptyForm
from storefront.security import sessions

SEARCH_LIMIT = 50
log = logging.getLogger("comptoir.privacy")


@bp.route("/people")
@operator_required
def people() -> str:
    query = (request.args.get("q") or "").strip().lower()[:254]
    found: list[User] = []
    if query:
        found = list(db.session.scalars(
            select(User).where(func.lower(User.email).contains(query, autoescape=True))
            .order_by(User.email).limit(SEARCH_LIMIT)))
    return render_template("backoffice/people.html", query=query, people=found,
                           limit=SEARCH_LIMIT, logout_form=EmptyForm())


def _person(user_id: uuid.UUID) -> User:
    return db.session.get(User, user_id) or abort(404)


@bp.route("/people/<uuid:user_id>")
@operator_required
def person(user_id: uuid.UUID) -> str:
    user = _person(user_id)
    return render_template("backoffice/person.html", person=user,
                           sessions=records.live_sessions(user.id),
                           totp=factors.totp_enabled(user), passkeys=factors.passkey_count(user),
                           this_session=sessions.current(), form=EmptyForm(),
                           logout_form=EmptyForm())


@bp.post("/people/<uuid:user_id>/sessions/<uuid:record_id>/end")
@operator_required
def end_session(user_id: uuid.UUID, record_id: uuid.UUID) -> Response:
    if not EmptyForm().validate():
        abort(400)
    user = _person(user_id)
    if records.end_session(user.id, record_id, f"ended by {current_operator().email}"):
        flash(_("Session ended: it stops working at its next request."), "success")
    else:
        flash(_("This session had already ended."), "info")
    return redirect(url_for("backoffice.person", user_id=user.id))


@bp.post("/people/<uuid:user_id>/sessions/end-all")
@operator_required
def end_all_sessions(user_id: uuid.UUID) -> Response:
    if not EmptyForm().validate():
        abort(400)
    user = _person(user_id)
    count = records.end_all_sessions(user.id, f"ended by {current_operator().email}")
    flash(ngettext("%(num)s session ended.", "%(num)s sessions ended.", count), "success")
    if user.id == current_operator().id:
        return redirect(url_for("backoffice.login"))
    return redirect(url_for("backoffice.person", user_id=user.id))


@bp.post("/people/<uuid:user_id>/<any(disable, enable):action>")
@operator_required
def set_active(user_id: uuid.UUID, action: str) -> Response:
    if not EmptyForm().validate():
        abort(400)
    user = _person(user_id)
    operator = current_operator()
    if user.id == operator.id:
        flash(_("You cannot disable your own account."), "error")
        return redirect(url_for("backoffice.person", user_id=user.id))
    if action == "enable" and user.erased_at is not None:
        flash(_("An erased account cannot be enabled again."), "error")
        return redirect(url_for("backoffice.person", user_id=user.id))
    records.set_active(user, action == "enable", operator.email)
    if action == "enable":
        flash(_("%(email)s is enabled.", email=user.email), "success")
    else:
        flash(_("%(email)s is disabled: its sessions ended.", email=user.email), "success")
    return redirect(url_for("backoffice.person", user_id=user.id))


@bp.get("/people/<uuid:user_id>/data.json")
@operator_required
def export_person(user_id: uuid.UUID) -> Response:
    """Everything held about a buyer, as JSON, to answer their request."""
    user = _person(user_id)
    data = privacy.export_data(privacy.subject_for_user(user), email_proven=True)
    log.info("privacy: data of user %s exported by %s", user.id, current_operator().id)
    return Response(json.dumps(data, ensure_ascii=False, indent=2), mimetype="application/json",
                    headers={"Content-Disposition": 'attachment; filename="personal-data.json"',
                             "Cache-Control": "no-store"})


@bp.post("/people/<uuid:user_id>/erase")
@operator_required
def erase_person(user_id: uuid.UUID) -> Response:
    """Erase a buyer's data on their request; the operator types the address to confirm."""
    if not EmptyForm().validate():
        abort(400)
    user = _person(user_id)
    back = redirect(url_for("backoffice.person", user_id=user.id))
    typed = (request.form.get("confirm_email") or "").strip().lower()
    if user.erased_at is not None:
        flash(_("This account is already erased."), "info")
        return back
    if typed != user.email.lower():
        flash(_("Type the account's e-mail address to confirm the erasure."), "error")
        return back
    try:
        report = privacy.erase(privacy.subject_for_email(user.email),
                               actor=f"operator:{current_operator().id}")
    except privacy.PrivacyError as exc:
        db.session.rollback()
        flash(_("Not erased: %(reason)s", reason=str(exc)), "error")
        return back
    flash(_("The personal data is erased; the account is now %(pseudonym)s.",
            pseudonym=report.pseudonym), "success")
    return back
