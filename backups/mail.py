"""Backup e-mails in the partner's brand: a licence again, a "find my licence" link, a reminder."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from flask import current_app, render_template
from flask_babel import force_locale, format_date
from flask_babel import gettext as _
from sqlalchemy import select

from backups.services import Licence, order_line_for
from backups.vault import Backup
from commerce.links import shop_url
from commerce.models import Order, Partner
from extensions import db
from fulfilment.mail import Mail, send_mail

TEMPLATES = "storefront/backups/emails"


def send_licence(licence: Licence) -> str:
    """E-mail a licence read back from the vault to the order's buyer; return the address."""
    line = order_line_for(licence.order_line_ref)
    order = line.order if line is not None else None
    partner = order.partner if order is not None else _partner(licence.partner)
    to = order.email if order is not None else licence.buyer_ref
    if not to:
        raise ValueError(f"backup {licence.backup_id} has no buyer address to send to")
    with force_locale(_locale(order)):
        context = _context(partner, order, licence=licence)
        subject = _("Your licence for %(product)s", product=licence.product_name)
        mail = _render("licence", to, subject, partner, context)
    send_mail(mail)
    return to


def send_access_link(partner: Partner, email: str, url: str, expires_at: datetime) -> None:
    """E-mail a single-use "find my licence" link, in the language of the page that asked."""
    context = _context(partner, None, url=url, expires_at=expires_at)
    subject = _("Your link to find your licences")
    send_mail(_render("link", email, subject, partner, context))


def send_reminder(backup: Backup) -> str:
    """E-mail the buyer that their backup expires soon, with how to renew it; return the address."""
    line = order_line_for(backup.order_line_ref)
    order = line.order if line is not None else None
    partner = order.partner if order is not None else _partner(backup.partner)
    to = order.email if order is not None else backup.buyer_ref
    if not to:
        raise ValueError(f"backup {backup.id} has no buyer address to remind")
    renew_url = f"{shop_url(partner)}/backups/renew"
    if order is not None:
        renew_url += f"?order={order.number}"
    with force_locale(_locale(order)):
        context = _context(partner, order, backup=backup, line=line, renew_url=renew_url)
        subject = _("Your licence backup ends on %(date)s", date=utc_date(backup.expires_at))
        mail = _render("reminder", to, subject, partner, context)
    send_mail(mail)
    return to


def utc_date(value: datetime | date) -> str:
    """Format the UTC date of a moment (the date the vault counts expiry on) for the reader."""
    if isinstance(value, datetime):
        value = value.astimezone(UTC).date()
    return format_date(value, "long")


def _render(kind: str, to: str, subject: str, partner: Partner, context: dict[str, Any]) -> Mail:
    text = render_template(f"{TEMPLATES}/{kind}.txt", **context)
    html = render_template(f"{TEMPLATES}/{kind}.html", **context)
    return Mail(to=to, subject=f"{partner.name} · {subject}", text=text, html=html,
                reply_to=partner.support_email or None)


def _context(partner: Partner, order: Order | None, **extra: Any) -> dict[str, Any]:
    return {"partner": partner, "order": order, "shop_url": shop_url(partner),
            "name": order.name if order is not None else "", **extra}


def _locale(order: Order | None) -> str:
    return (order.locale if order is not None else None) or current_app.config["DEFAULT_LOCALE"]


def _partner(slug: str) -> Partner:
    partner = db.session.scalar(select(Partner).where(Partner.slug == slug))
    if partner is None:
        raise ValueError(f"no partner {slug!r}")
    return partner
