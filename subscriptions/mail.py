"""The buyer's e-mails about a subscription: renewed, changed, payment failed, cancelled,
suspended, ended. Owed and sent like every order e-mail (fulfilment/emails.py, one per key)."""

from __future__ import annotations

import uuid
from typing import Any

from flask import render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from commerce.access import access_url
from commerce.links import shop_url
from commerce.models import Order
from extensions import db
from fulfilment.mail import Mail
from invoicing.services import documents_of, link_for
from licensing.models import LicenceRecord
from subscriptions.models import Subscription, SubscriptionCharge
from subscriptions.services import grace

KINDS = ("subscription_charged", "subscription_payment_failed", "subscription_cancelled",
         "subscription_suspended", "subscription_ended")


def key(kind: str, subscription_id: uuid.UUID, what: object) -> str:
    """The e-mail's once-key: `kind:subscription:what` (a charge, an attempt, a date)."""
    return f"{kind}:{subscription_id}:{what}"


def render(email_key: str, kind: str, order_id: uuid.UUID) -> Mail:
    order = db.session.get(Order, order_id)
    sub = db.session.get(Subscription, uuid.UUID(email_key.split(":")[1]))
    assert order is not None and sub is not None
    charge = db.session.scalar(select(SubscriptionCharge)
                               .where(SubscriptionCharge.order_id == order.id))
    licences = list(db.session.scalars(select(LicenceRecord).where(
        LicenceRecord.order_line_ref.in_([str(line.id) for line in order.lines]))))
    invoice = documents_of(order.id).invoice
    with force_locale(order.locale or "fr"):
        context: dict[str, Any] = {
            "kind": kind, "order": order, "sub": sub, "charge": charge,
            "partner": order.partner, "licences": licences, "shop_url": shop_url(order.partner),
            "order_url": access_url(order), "invoice": invoice,
            "invoice_url": link_for(order, invoice) if invoice is not None else None,
            "grace_ends": (sub.past_due_since + grace()) if sub.past_due_since else None,
            "account_url": f"{shop_url(order.partner)}/account/subscriptions",
        }
        subject = {
            "subscription_charged": _("Your subscription %(number)s is renewed", number=sub.number)
            if charge is None or charge.kind == "renewal"
            else _("Your subscription %(number)s: users added", number=sub.number),
            "subscription_payment_failed": _("Your subscription %(number)s: the payment failed",
                                             number=sub.number),
            "subscription_cancelled": _("Your subscription %(number)s will end on %(date)s",
                                        number=sub.number,
                                        date=sub.current_period_end.strftime("%d/%m/%Y")),
            "subscription_suspended": _("Your subscription %(number)s is suspended",
                                        number=sub.number),
            "subscription_ended": _("Your subscription %(number)s has ended", number=sub.number),
        }[kind]
        text = render_template("emails/subscription.txt", **context)
        html = render_template("emails/subscription.html", **context)
    return Mail(to=order.email, subject=f"{order.partner.name} · {subject}", text=text,
                html=html, reply_to=order.partner.support_email or None)
