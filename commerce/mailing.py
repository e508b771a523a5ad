"""E-mails in a partner's brand and the reader's language, with links on the partner's domain."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app, render_template
from flask_babel import force_locale

from commerce.links import shop_url
from commerce.models import Order, Partner
from fulfilment.mail import Mail, send_mail


def branded_context(partner: Partner, order: Order | None = None, **extra: Any) -> dict[str, Any]:
    """What every branded e-mail template gets: the partner, its address, the order if any."""
    return {"partner": partner, "order": order, "shop_url": shop_url(partner),
            "name": order.name if order is not None else "", **extra}


def render_branded(template: str, to: str, subject: str, partner: Partner,
                   context: dict[str, Any]) -> Mail:
    """Render `<template>.txt` and `<template>.html` into a Mail from the partner."""
    text = render_template(f"{template}.txt", **context)
    html = render_template(f"{template}.html", **context)
    return Mail(to=to, subject=f"{partner.name} · {subject}", text=text, html=html,
                reply_to=partner.support_email or None)


def send_branded(template: str, to: str, subject: str | Callable[[], str], partner: Partner,
                 locale: str | None, **extra: Any) -> None:
    """Render and send now, in the given language; raise on failure so the caller can say so.

    A subject given as a function is translated in the e-mail's language, not the page's.
    """
    with force_locale(locale or current_app.config["DEFAULT_LOCALE"]):
        context = branded_context(partner, **extra)
        title = subject() if callable(subject) else subject
        mail = render_branded(template, to, title, partner, context)
    send_mail(mail)
