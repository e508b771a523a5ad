"""Human labels for codes, translated at render time."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask

from commerce.models import Product
from storefront.i18n import gettext as _
from storefront.i18n import ngettext


def _label(table: dict[str, Callable[[], str]], code: str) -> str:
    """The code's label, translated alone (not the whole table), or the code itself."""
    label = table.get(code)
    return label() if label is not None else code


_FAMILY_LABELS: dict[str, Callable[[], str]] = {
    "office": lambda: _("Office"),
    "microsoft365": lambda: _("Microsoft 365"),
    "windows": lambda: _("Windows"),
    "visio": lambda: _("Visio"),
    "project": lambda: _("Project"),
    "server": lambda: _("Servers"),
    "addon": lambda: _("Services"),
}


def family_label(code: str) -> str:
    return _label(_FAMILY_LABELS, code)


_PLATFORM_LABELS: dict[str, Callable[[], str]] = {
    "windows": lambda: _("Windows PC"),
    "mac": lambda: _("Mac"),
    "multi": lambda: _("PC, Mac, tablet and phone"),
}


def platform_label(code: str) -> str:
    return _label(_PLATFORM_LABELS, code)


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


_STATUS_LABELS: dict[str, Callable[[], str]] = {
    "pending_payment": lambda: _("Awaiting payment"),
    "paid": lambda: _("Paid"),
    "failed": lambda: _("Payment failed"),
    "expired": lambda: _("Payment expired"),
    "flagged": lambda: _("Under review"),
    "refunded": lambda: _("Refunded"),
    "refund_pending": lambda: _("Refund in progress"),
    "partially_refunded": lambda: _("Partly refunded"),
    "disputed": lambda: _("Disputed with the bank"),
    "unfulfilled": lambda: _("Not started"),
    "awaiting_fulfilment": lambda: _("Awaiting fulfilment"),
    "in_progress": lambda: _("Being prepared"),
    "pending": lambda: _("Being prepared"),
    "ordered": lambda: _("Being prepared"),
    "partially_delivered": lambda: _("Partly delivered"),
    "delivered": lambda: _("Delivered"),
    "needs_attention": lambda: _("Delayed: our team is on it"),
    "cancelled": lambda: _("Cancelled"),
    "active": lambda: _("Active"),
    "past_due": lambda: _("Payment overdue"),
    "suspended": lambda: _("Suspended"),
    "ended": lambda: _("Ended"),
}


def status_label(code: str) -> str:
    return _label(_STATUS_LABELS, code)


_SUBSCRIPTION_EVENT_LABELS: dict[str, Callable[[], str]] = {
    "started": lambda: _("Started"),
    "renewed": lambda: _("Renewed"),
    "changed": lambda: _("Changed"),
    "change_prepared": lambda: _("Change prepared by your reseller"),
    "payment_failed": lambda: _("Payment failed"),
    "cancel_requested": lambda: _("Renewal stopped"),
    "suspended": lambda: _("Suspended"),
    "ended": lambda: _("Ended"),
    "needs_attention": lambda: _("Delayed at the wholesaler: our team is on it"),
    "wholesaler": lambda: _("Wholesaler"),
    "licence": lambda: _("Licence"),
}


def subscription_event_label(code: str) -> str:
    """What a subscription's history line records."""
    return _label(_SUBSCRIPTION_EVENT_LABELS, code)


def term_label(months: int) -> str:
    """A subscription's billing term."""
    return _("Monthly") if months == 1 else _("Annual")


_KIND_LABELS: dict[str, Callable[[], str]] = {
    "retail": lambda: _("Retail site"),
    "oem": lambda: _("PC maker's store"),
    "telecom": lambda: _("Telecom operator"),
    "channel": lambda: _("Channel partner"),
    "direct": lambda: _("Direct shop"),
}


def kind_label(code: str) -> str:
    return _label(_KIND_LABELS, code)


def init_app(app: Flask) -> None:
    for fn in (family_label, platform_label, seats_label, licence_label, status_label, kind_label,
               term_label, subscription_event_label):
        app.add_template_global(fn)
