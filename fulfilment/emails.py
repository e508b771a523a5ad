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
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.util import identity_key

from commerce.access import access_url
from commerce.links import shop_url
from commerce.models import Order, utcnow
from events.outbox import after_commit
from extensions import db, insert_once
from fulfilment.delivery import line_deliveries
from fulfilment.mail import Mail, send_mail
from fulfilment.models import OPEN_STATUSES, FulfilmentLine, LineStatus, OutgoingEmail
from invoicing.services import documents_of, link_for

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
    lines = order_lines_with_units(order_id)
    if any(line.status in OPEN_STATUSES for line in lines):
        return  # the last line's event sends it
    now = utcnow()
    if send_once(f"delivery:{order_id}", order_id, "delivery",
                 before_send=lambda: _announce(FulfilmentLine.order_id == order_id, now),
                 lines=lines):
        return
    line = next((line for line in lines if line.id == line_id), None)
    if (line is not None and line.status == LineStatus.DELIVERED
            and _announce(FulfilmentLine.id == line_id, now)):
        send_once(f"line-delivered:{line_id}", order_id, "line_delivered", lines=lines)


def order_lines_with_units(order_id: uuid.UUID) -> list[FulfilmentLine]:
    """The order's fulfilment lines with their units: the units of lines this session already
    holds are not read again, the others' in one query.

    An order of a single line that this transaction loaded with its lines (fulfilment, a
    callback) needs no query at all: that line is the one this transaction just settled."""
    held = db.session.identity_map.get(identity_key(Order, order_id))
    if held is not None and "fulfilment_lines" not in sa_inspect(held).unloaded \
            and len(held.fulfilment_lines) == 1:  # type: ignore[attr-defined]
        lines = list(held.fulfilment_lines)  # type: ignore[attr-defined]
    else:
        lines = list(db.session.scalars(
            select(FulfilmentLine).where(FulfilmentLine.order_id == order_id)))
    unloaded = [line.id for line in lines if "units" in sa_inspect(line).unloaded]
    if unloaded:
        db.session.scalars(select(FulfilmentLine).where(FulfilmentLine.id.in_(unloaded))
                           .options(selectinload(FulfilmentLine.units))).all()
    return lines


def send_once(key: str, order_id: uuid.UUID, kind: str,
              before_send: Callable[[], object] | None = None,
              lines: list[FulfilmentLine] | None = None) -> bool:
    """Owe the e-mail under `key` once, and send it as soon as this transaction commits; False
    if it was owed before. Runs in the caller's transaction.

    The unique key is written first, so a second relay waits on it and learns it is owed. The
    message is rendered now, from what this transaction holds, and sent only once the
    transaction has committed: a buyer never receives a key or a licence that a failed commit
    did not keep. The row is written leased ("sending"); if the send never happens (a crash
    between the commit and the send) the lease runs out and the sweep sends it (`send_due`).
    """
    now = utcnow()
    email_id = uuid.uuid4()
    if not insert_once(OutgoingEmail, id=email_id, key=key, order_id=order_id, kind=kind,
                       status="sending", attempts=1, lease_until=now + LEASE):
        return False
    if before_send is not None:
        before_send()
    mail = render_email(OutgoingEmail(key=key, order_id=order_id, kind=kind), lines)
    after_commit(lambda: _send_committed(email_id, mail))
    return True


def _send_committed(email_id: uuid.UUID, mail: Mail) -> None:
    """After the commit that owed it: send, then mark it sent (or owed again, for the sweep)."""
    try:
        send_mail(mail, after_commit=True)
    except Exception as exc:  # noqa: BLE001 - any failure: keep it owed, the sweep tries again
        log.warning("e-mail %s not sent yet: %s", email_id, exc)
        _mark(email_id, status="pending", lease_until=None,
              last_error=f"{type(exc).__name__}: {exc}")
        return
    _mark(email_id, status="sent", sent_at=utcnow(), lease_until=None)


def _mark(email_id: uuid.UUID, **values: object) -> None:
    """Write an e-mail's outcome on a connection of its own (the session's work is committed)."""
    with db.engine.begin() as connection:
        connection.execute(update(OutgoingEmail).where(
            OutgoingEmail.id == email_id, OutgoingEmail.status == "sending").values(**values))


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


def render_email(email: OutgoingEmail, lines: list[FulfilmentLine] | None = None) -> Mail:
    """Render an owed e-mail in the buyer's language and the partner's brand (`lines`: the
    order's fulfilment lines, when the caller has them)."""
    if email.kind.startswith("subscription_"):
        from subscriptions import mail as subscription_mail

        assert email.order_id is not None
        return subscription_mail.render(email.key, email.kind, email.order_id)
    order = db.session.get(Order, email.order_id)
    assert order is not None
    deliveries = line_deliveries(order, lines)
    delivered = sum(1 for line, _units in deliveries.values()
                    if line.status == LineStatus.DELIVERED)
    delayed = sum(1 for line, _units in deliveries.values()
                  if line.status in (LineStatus.NEEDS_ATTENTION, *OPEN_STATUSES))
    only_line = None
    if email.kind == "line_delivered":
        line_id = uuid.UUID(email.key.split(":", 1)[1])
        only_line = next((line.order_line_id for line, _units in deliveries.values()
                          if line.id == line_id), None)
    invoice = documents_of(order.id).invoice
    with force_locale(order.locale or "fr"):
        context = {
            "invoice": invoice,
            "invoice_url": link_for(order, invoice) if invoice is not None else None,
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
            "released": _("Your order %(number)s can be paid", number=order.number),
        }.get(email.kind, _("Your order %(number)s", number=order.number))
        # An order held for VIES and now priced has an e-mail of its own (payments/held.py).
        template = "emails/released" if email.kind == "released" else "emails/delivery"
        text = render_template(f"{template}.txt", **context)
        html = render_template(f"{template}.html", **context)
    return Mail(
        to=order.email,
        subject=f"{order.partner.name} · {subject}",
        text=text,
        html=html,
        reply_to=order.partner.support_email or None,
    )

