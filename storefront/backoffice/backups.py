"""Back office: licence backups of an order, recent backups and vault alerts, renewals."""

from __future__ import annotations

import uuid
from datetime import datetime

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from backups import services, support
from backups.services import BackupRow
from backups.vault import (
    AccessEntry,
    Actor,
    ActorKind,
    BackupExpired,
    BackupNotFound,
    BackupUnavailable,
    TamperedBackup,
    VaultError,
    get_backup,
)
from backups.vault.models import utcnow
from commerce.models import Order
from storefront.backoffice.auth import current_operator, operator_required
from storefront.backoffice.blueprint import bp
from storefront.forms import EmptyForm

Page = Response | str | tuple[str, int]


@bp.app_template_global("order_backups")
def order_backups(order: Order) -> dict[uuid.UUID, BackupRow]:
    """Return the backups of an order's lines by order line id, for the order page."""
    return support.order_backups(order)


@bp.app_template_global("backup_accesses")
def backup_accesses(row: BackupRow) -> list[AccessEntry]:
    """Return the audited accesses to one backup, for the order page."""
    return support.backup_accesses(row)


@bp.route("/backups")
@operator_required
def backups() -> str:
    status = request.args.get("status")
    status = status if status in support.FILTERS else None
    return render_template("backoffice/backups.html", rows=support.recent_backups(status),
                           alerts=support.open_alerts(), status=status, filters=support.FILTERS,
                           logout_form=EmptyForm())


@bp.post("/backups/<uuid:backup_id>/open")
@operator_required
def backup_open(backup_id: uuid.UUID) -> Page:
    _check_form()
    try:
        licence = services.open_for_operator(backup_id, _actor())
    except VaultError as exc:
        return _refusal(backup_id, exc)
    return render_template("backoffice/backups_licence.html", licence=licence,
                           order=_order_of(backup_id), now=utcnow(), logout_form=EmptyForm())


@bp.post("/backups/<uuid:backup_id>/resend")
@operator_required
def backup_resend(backup_id: uuid.UUID) -> Page:
    _check_form()
    try:
        to = services.resend_for_operator(backup_id, _actor())
    except VaultError as exc:
        return _refusal(backup_id, exc)
    except Exception as exc:  # noqa: BLE001 - the mail server refused: tell the operator
        flash(_("The licence was not sent: %(kind)s: %(error)s", kind=type(exc).__name__,
                error=exc), "error")
        return _back_to_order(backup_id)
    flash(_("Licence re-sent to %(email)s.", email=to), "success")
    return _back_to_order(backup_id)


@bp.post("/backups/<uuid:backup_id>/extend")
@operator_required
def backup_extend(backup_id: uuid.UUID) -> Response:
    _check_form()
    try:
        seen = datetime.fromisoformat(request.form.get("expires_at", ""))
    except ValueError:
        abort(400)
    if seen.tzinfo is None:
        abort(400)
    try:
        backup = support.renew_backup(backup_id, seen, current_operator().email)
    except BackupNotFound:
        abort(404)
    except support.RenewalRefused as exc:
        flash(_("Not extended: %(error)s", error=exc), "error")
        return _back_to_order(backup_id)
    flash(_("Backup extended to %(date)s (renewal paid).", date=f"{backup.expires_at:%Y-%m-%d}"),
          "success")
    return _back_to_order(backup_id)


@bp.post("/backups/alerts/<uuid:alert_id>/acknowledge")
@operator_required
def backup_alert_acknowledge(alert_id: uuid.UUID) -> Response:
    _check_form()
    try:
        support.acknowledge_alert(alert_id, current_operator().email)
    except LookupError:
        abort(404)
    flash(_("Alert acknowledged."), "success")
    return redirect(url_for("backoffice.backups"))


def _actor() -> Actor:
    return Actor(ActorKind.OPERATOR, current_operator().email, request.remote_addr)


def _check_form() -> None:
    if not EmptyForm().validate():
        abort(400)


def _order_of(backup_id: uuid.UUID) -> Order | None:
    backup = get_backup(backup_id)
    line = services.order_line_for(backup.order_line_ref) if backup is not None else None
    return line.order if line is not None else None


def _back_to_order(backup_id: uuid.UUID) -> Response:
    order = _order_of(backup_id)
    if order is None:
        return redirect(url_for("backoffice.backups"))
    return redirect(url_for("backoffice.order", order_id=order.id))


def _refusal(backup_id: uuid.UUID, exc: VaultError) -> Page:
    if isinstance(exc, BackupNotFound):
        abort(404)
    problem = {BackupExpired: "expired", TamperedBackup: "tampered",
               BackupUnavailable: "unavailable"}.get(type(exc))
    if problem is None:
        raise exc
    status = {"expired": 200, "tampered": 500, "unavailable": 503}[problem]
    expired_on = exc.expired_on if isinstance(exc, BackupExpired) else None
    return render_template("backoffice/backups_problem.html", problem=problem,
                           expired_on=expired_on, detail=str(exc), order=_order_of(backup_id),
                           logout_form=EmptyForm()), status

