"""Delivery e-mails: owed once (unique key), sent by whoever gets the lease, retried until sent."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from flask import render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from commerce.access import access_url
from commerce.links import shop_url
from commerce.models import Order, utcnow
from extensions import db
from fulfilment.delivery import line_deliveries
from fulfilment.mail import Mail, send_mail
from fulfilment.models import FulfilmentLine, LineStatus, OutgoingEmail

log = logging.getLogger(__name__)
LEASE = timedelta(minutes=5)


def owe_delivery_email(order_id: uuid.UUID, line: FulfilmentLine) -> None:
    """Owe the order's delivery e-mail once; a line delivered after it gets an e-mail of its own.

    Each delivered line is announced once: owing an e-mail and marking the lines it carries happen
    in one transaction, and the marking is a conditional UPDATE, so two workers finishing two lines
    at the same moment cannot both announce the same line.
    """
    now = utcnow()
    try:
        with db.session.begin_nested():
            db.session.add(
                OutgoingEmail(key=f"delivery:{order_id}", order_id=order_id, kind="delivery")
            )
        _announce(FulfilmentLine.order_id == order_id, now)
    except IntegrityError:
        if line.status == LineStatus.DELIVERED and _announce(FulfilmentLine.id == line.id, now):
            db.session.add(
                OutgoingEmail(
                    key=f"line-delivered:{line.id}", order_id=order_id, kind="line_delivered"
                )
            )
    db.session.commit()
    send_due(utcnow(), order_id=order_id)


def _announce(which: Any, now: datetime) -> int:
    """Mark delivered, not yet announced lines as announced; return how many were."""
    result = db.session.execute(
        update(FulfilmentLine)
        .where(
            which,
            FulfilmentLine.status == LineStatus.DELIVERED,
            FulfilmentLine.announced_at.is_(None),
        )
        .values(announced_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def owe_email(key: str, order_id: uuid.UUID, kind: str) -> bool:
    """Owe any e-mail under a unique key and try to send it now."""
    created = _owe(key, order_id, kind)
    send_due(utcnow(), order_id=order_id)
    return created


def _owe(key: str, order_id: uuid.UUID, kind: str) -> bool:
    try:
        with db.session.begin_nested():
            db.session.add(OutgoingEmail(key=key, order_id=order_id, kind=kind))
        db.session.commit()
    except IntegrityError:
        return False
    return True


def send_due(now: datetime, order_id: uuid.UUID | None = None) -> int:
    """Send owed e-mails whose lease is free; return how many went out."""
    stmt = select(OutgoingEmail.id).where(
        OutgoingEmail.status != "sent",
        or_(OutgoingEmail.lease_until.is_(None), OutgoingEmail.lease_until < now),
    )
    if order_id is not None:
        stmt = stmt.where(OutgoingEmail.order_id == order_id)
    return sum(send_email(email_id, now) for email_id in db.session.scalars(stmt.limit(100)).all())


def send_email(email_id: uuid.UUID, now: datetime) -> bool:
    """Send one owed e-mail if we win its lease; mark it sent."""
    claimed = db.session.execute(
        update(OutgoingEmail)
        .where(
            OutgoingEmail.id == email_id,
            OutgoingEmail.status != "sent",
            or_(OutgoingEmail.lease_until.is_(None), OutgoingEmail.lease_until < now),
        )
        .values(status="sending", lease_until=now + LEASE, attempts=OutgoingEmail.attempts + 1)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    db.session.commit()
    if not claimed:
        return False
    email = db.session.get(OutgoingEmail, email_id)
    assert email is not None
    db.session.refresh(email)
    try:
        send_mail(render_email(email))
    except Exception as exc:  # noqa: BLE001 - any failure: keep it owed, try again later
        email.status, email.lease_until, email.last_error = (
            "pending",
            None,
            f"{type(exc).__name__}: {exc}",
        )
        db.session.commit()
        log.warning("e-mail %s not sent yet: %s", email.key, email.last_error)
        return False
    email.status, email.sent_at, email.lease_until = "sent", utcnow(), None
    db.session.commit()
    return True


def render_email(email: OutgoingEmail) -> Mail:
    """Render an owed e-mail in the buyer's language and the partner's brand."""
    order = db.session.get(Order, email.order_id)
    assert order is not None
    deliveries = line_deliveries(order)
    only_line = None
    if email.kind == "line_delivered":
        only_line = db.session.scalar(
            select(FulfilmentLine.order_line_id).where(
                FulfilmentLine.id == uuid.UUID(email.key.split(":", 1)[1])
            )
        )
    with force_locale(order.locale or "fr"):
        context = {
            "order": order,
            "partner": order.partner,
            "deliveries": deliveries,
            "kind": email.kind,
            "only_line": only_line,
            "shop_url": shop_url(order.partner),
            "order_url": access_url(order),
        }
        subject = {
            "delivery": _("Your order %(number)s: your licences", number=order.number),
            "line_delivered": _(
                "Your order %(number)s: the rest of your licences", number=order.number
            ),
            "replacement": _("Your order %(number)s: your replacement key", number=order.number),
            "renewal": _(
                "Your order %(number)s: your licence backup is renewed", number=order.number
            ),
        }.get(email.kind, _("Your order %(number)s", number=order.number))
        text = render_template("emails/delivery.txt", **context)
        html = render_template("emails/delivery.html", **context)
    return Mail(
        to=order.email,
        subject=f"{order.partner.name} · {subject}",
        text=text,
        html=html,
        reply_to=order.partner.support_email or None,
    )

