"""Human labels for codes, translated at render time."""

from __future__ import annotations

from flask import Flask
from flask_babel import gettext as _
from flask_babel import ngettext

from commerce.models import Product


def family_label(code: str) -> str:
    return {
        "office": _("Office"),
        "microsoft365": _("Microsoft 365"),
        "windows": _("Windows"),
        "visio": _("Visio"),
        "project": _("Project"),
        "server": _("Servers"),
        "addon": _("Services"),
    }.get(code, code)


def platform_label(code: str) -> str:
    return {
        "windows": _("Windows PC"),
        "mac": _("Mac"),
        "multi": _("PC, Mac, tablet and phone"),
    }.get(code, code)


def seats_label(product: Product) -> str:
    if product.seat_unit == "user":
        return ngettext("%(num)d user", "up to %(num)d users", product.seats)
    return ngettext("%(num)d device", "%(num)d devices", product.seats)


def licence_label(product: Product) -> str:
    if product.licence_type == "subscription":
        months = product.term_months or 12
        if months % 12 == 0:
            return ngettext("%(num)d-year subscription", "%(num)d-year subscription", months // 12)
        return ngettext("%(num)d-month subscription", "%(num)d-month subscription", months)
    return _("Perpetual licence")


def status_label(code: str) -> str:
    return {
        "pending_payment": _("Awaiting payment"),
        "paid": _("Paid"),
        "failed": _("Payment failed"),
        "expired": _("Payment expired"),
        "flagged": _("Under review"),
        "refunded": _("Refunded"),
        "refund_pending": _("Refund in progress"),
        "partially_refunded": _("Partly refunded"),
        "disputed": _("Disputed with the bank"),
        "unfulfilled": _("Not started"),
        "awaiting_fulfilment": _("Awaiting fulfilment"),
        "in_progress": _("Being prepared"),
        "pending": _("Being prepared"),
        "ordered": _("Being prepared"),
        "partially_delivered": _("Partly delivered"),
        "delivered": _("Delivered"),
        "needs_attention": _("Delayed: our team is on it"),
        "cancelled": _("Cancelled"),
        "active": _("Active"),
        "past_due": _("Payment overdue"),
        "suspended": _("Suspended"),
        "ended": _("Ended"),
    }.get(code, code)


def subscription_event_label(code: str) -> str:
    """What a subscription's history line records."""
    return {
        "started": _("Started"),
        "renewed": _("Renewed"),
        "changed": _("Changed"),
        "change_prepared": _("Change prepared by your reseller"),
        "payment_failed": _("Payment failed"),
        "cancel_requested": _("Renewal stopped"),
        "suspended": _("Suspended"),
        "ended": _("Ended"),
        "needs_attention": _("Delayed at the wholesaler: our team is on it"),
        "wholesaler": _("Wholesaler"),
        "licence": _("Licence"),
    }.get(code, code)


def term_label(months: int) -> str:
    """A subscription's billing term."""
    return _("Monthly") if months == 1 else _("Annual")


def kind_label(code: str) -> str:
    return {
        "retail": _("Retail site"),
        "oem": _("PC maker's store"),
        "telecom": _("Telecom operator"),
        "channel": _("Channel partner"),
        "direct": _("Direct shop"),
    }.get(code, code)


def init_app(app: Flask) -> None:
    for fn in (family_label, platform_label, seats_label, licence_label, status_label, kind_label,
               term_label, subscription_event_label):
        app.add_template_global(fn)
