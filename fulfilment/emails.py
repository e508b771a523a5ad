"""Buyer e-mails: each sent once under a unique key, by the outbox consumer that owes it.

E-mails owed before the outbox (rows still pending) are sent by the sweep (`send_due`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flask import render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from commerce.access import access_url
from commerce.links import shop_url
from commerce.models import Order, utcnow
from extensions import db
from fulfilment.delivery import line_deliveries
from fulfilment.mail import Mail, send_mail
from fulfilment.models import OPEN_STATUSES, FulfilmentLine, LineStatus, OutgoingEmail

log = logging.getLogger(__name__)
LEASE = timedelta(minutes=5)


def line_settled(order_id: uuid.UUID, line_id: uuid.UUID) -> None:
    """A line was delivered or needs attention: e-mail the buyer once nothing is on its way.

    The first e-mail of an order waits until no line is still open, then carries every delivered
    line and says which items are delayed. A line delivered after it (an operator's retry, a late
    delivery) gets an e-mail of its own. Each delivered line is announced once: marking it is a
    conditional UPDATE in the same transaction as the e-mail's unique key, so two relays finishing
    two lines at once cannot both announce it. Runs in the caller's transaction.
    """
    open_lines = db.session.scalar(
        select(func.count()).select_from(FulfilmentLine).where(
            FulfilmentLine.order_id == order_id, FulfilmentLine.status.in_(OPEN_STATUSES))
    )
    if open_lines:
        return  # the last line's event sends it
    now = utcnow()
    first = db.session.scalar(select(OutgoingEmail.id).where(
        OutgoingEmail.key == f"delivery:{order_id}"))
    if first is None:
        send_once(f"delivery:{order_id}", order_id, "delivery",
                  before_send=lambda: _announce(FulfilmentLine.order_id == order_id, now))
        return
    line_status = db.session.scalar(select(FulfilmentLine.status).where(
        FulfilmentLine.id == line_id))
    if line_status == LineStatus.DELIVERED and _announce(FulfilmentLine.id == line_id, now):
        send_once(f"line-delivered:{line_id}", order_id, "line_delivered")


def send_once(key: str, order_id: uuid.UUID, kind: str,
              before_send: Callable[[], object] | None = None) -> bool:
    """Send the e-mail owed under `key` now, once; False if it went before. Caller commits.

    The unique key is written first, so a second relay waits on it and learns it went; the send
    follows, and a failure raises, which rolls the key back for the next try.
    """
    email = OutgoingEmail(key=key, order_id=order_id, kind=kind, status="sending", attempts=1)
    try:
        with db.session.begin_nested():
            db.session.add(email)
    except IntegrityError:
        return False
    if before_send is not None:
        before_send()
    send_mail(render_email(email))
    email.status, email.sent_at = "sent", utcnow()
    return True


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
    """Owe any e-mail under a unique key, commit, and try to send it now."""
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
    delivered = sum(1 for line, _units in deliveries.values()
                    if line.status == LineStatus.DELIVERED)
    delayed = sum(1 for line, _units in deliveries.values()
                  if line.status in (LineStatus.NEEDS_ATTENTION, *OPEN_STATUSES))
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
            "delivered": delivered,
            "delayed": delayed,
            "shop_url": shop_url(order.partner),
            "order_url": access_url(order),
        }
        if email.kind == "delivery" and delayed and not delivered:
            delivery_subject = _("Your order %(number)s is delayed", number=order.number)
        elif email.kind == "delivery" and delayed:
            delivery_subject = _("Your order %(number)s: your licences (%(count)d item delayed)",
                                 number=order.number, count=delayed)
        else:
            delivery_subject = _("Your order %(number)s: your licences", number=order.number)
        subject = {
            "delivery": delivery_subject,
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

