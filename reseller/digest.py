"""The weekly alerts digest: one e-mail per reseller and ISO week, when something needs attention.

Each e-mail is claimed by a unique key in `outgoing_emails` (`reseller-digest:<code>:<yyyy-Www>`)
before it goes out, so concurrent or repeated runs send it once; a failed send gives the claim
back, and the next run (the job runs daily) tries again within the same week.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import click
from flask import current_app, render_template
from flask.cli import with_appcontext
from flask_babel import force_locale, ngettext
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from commerce.links import shop_url
from commerce.models import Partner, utcnow
from commissions.models import Reseller
from extensions import db
from fulfilment.mail import Mail, send_mail
from fulfilment.models import OutgoingEmail
from reseller.services import Alerts, alerts_for

log = logging.getLogger("comptoir.reseller")

KIND = "reseller_digest"


@dataclass(frozen=True)
class DigestOutcome:
    """What a digest run did for one reseller."""

    reseller_code: str
    email: str
    alerts: int
    outcome: str  # sent, would_send, no_alerts, already_sent, failed


def iso_week(now: datetime) -> str:
    """The ISO week of a time, as 2026-W48."""
    year, week, _weekday = now.isocalendar()
    return f"{year}-W{week:02d}"


def digest_key(reseller: Reseller, now: datetime) -> str:
    """The unique key of a reseller's digest for the week of `now`."""
    return f"reseller-digest:{reseller.code}:{iso_week(now)}"


def portal_url(partner: Partner) -> str:
    """Where a partner's reseller portal is served, for links in e-mails."""
    return f"{shop_url(partner)}/reseller/"


def digest_mail(reseller: Reseller, alerts: Alerts, now: datetime) -> Mail:
    """The digest e-mail, in the reseller's language and the partner's name."""
    partner = reseller.partner
    with force_locale(reseller.locale or current_app.config["DEFAULT_LOCALE"]):
        context = {"reseller": reseller, "partner": partner, "alerts": alerts,
                   "portal_url": portal_url(partner), "week": iso_week(now)}
        subject = ngettext("%(num)d alert about your clients this week",
                           "%(num)d alerts about your clients this week", alerts.count)
        text = render_template("reseller/emails/digest.txt", **context)
        html = render_template("reseller/emails/digest.html", **context)
    return Mail(to=reseller.email, subject=f"{partner.name} · {subject}", text=text, html=html,
                reply_to=partner.support_email or None)


def _already_sent(key: str) -> bool:
    return db.session.scalar(select(OutgoingEmail.id).where(OutgoingEmail.key == key)) is not None


def claim_email(key: str, now: datetime, kind: str = KIND) -> bool:
    """Insert the e-mail's row, sent; False if another run holds it. It is never left for
    send_due: a failed send gives it back (`release_email`) for the next run."""
    try:
        with db.session.begin_nested():
            db.session.add(OutgoingEmail(key=key, order_id=None, kind=kind, status="sent",
                                         attempts=1, sent_at=now))
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return False
    return True


def release_email(key: str, error: Exception) -> None:
    db.session.rollback()
    db.session.execute(delete(OutgoingEmail).where(OutgoingEmail.key == key))
    db.session.commit()
    log.warning("reseller e-mail %s not sent, will retry: %s: %s", key, type(error).__name__,
                error)


def digest_one(reseller: Reseller, now: datetime, dry_run: bool = False) -> DigestOutcome:
    """Send one reseller's digest for this week if they have alerts and none went out yet."""
    alerts = alerts_for(reseller, now)

    def outcome(what: str) -> DigestOutcome:
        return DigestOutcome(reseller.code, reseller.email, alerts.count, what)

    if not alerts:
        return outcome("no_alerts")
    key = digest_key(reseller, now)
    if _already_sent(key):
        return outcome("already_sent")
    if dry_run:
        return outcome("would_send")
    mail = digest_mail(reseller, alerts, now)
    if not claim_email(key, now):
        return outcome("already_sent")
    try:
        send_mail(mail)
    except Exception as exc:  # noqa: BLE001 - any failure: give the week back for the next run
        release_email(key, exc)
        return outcome("failed")
    log.info("reseller digest %s sent to %s (%d alerts)", key, reseller.email, alerts.count)
    return outcome("sent")


def send_digests(now: datetime | None = None, dry_run: bool = False) -> list[DigestOutcome]:
    """Run the digest for every active reseller, in code order."""
    now = now or utcnow()
    resellers = db.session.scalars(
        select(Reseller).where(Reseller.active.is_(True)).order_by(Reseller.code)).all()
    return [digest_one(reseller, now, dry_run) for reseller in resellers]


@click.command("digest")
@click.option("--dry-run", is_flag=True, help="Say who would get a digest; send nothing.")
@click.option("--now", "now_text", default=None, help="Run as of this ISO time (with zone).")
@with_appcontext
def digest_command(dry_run: bool, now_text: str | None) -> None:
    """E-mail each reseller this week's alerts (once per ISO week)."""
    now = None
    if now_text is not None:
        now = datetime.fromisoformat(now_text)
        if now.tzinfo is None:
            raise click.BadParameter("give a time zone, e.g. 2026-03-15T09:00:00+00:00",
                                     param_hint="--now")
    outcomes = send_digests(now, dry_run=dry_run)
    for o in outcomes:
        click.echo(f"{o.reseller_code:<10} {o.email:<40} {o.alerts:>3} alert(s)  {o.outcome}")
    sent = sum(o.outcome in ("sent", "would_send") for o in outcomes)
    click.echo(f"{sent} digest(s) {'would be ' if dry_run else ''}sent")
