"""Sending e-mail: SMTP in production and tests, caught into the dev mail page in development."""

from __future__ import annotations

import smtplib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid

from flask import current_app

from commerce.models import CapturedMail
from extensions import db


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str = ""
    reply_to: str | None = None


class MailHeaderError(ValueError):
    """A header value that would break out of its header line; names the field."""

    def __init__(self, field: str) -> None:
        super().__init__(f"e-mail header {field} contains a line break or control character")
        self.field = field


def check_header_values(mail: Mail, sender: str) -> None:
    """Refuse CR, LF and other control characters in any header value, naming the field."""
    for field, value in (("To", mail.to), ("Subject", mail.subject),
                         ("Reply-To", mail.reply_to or ""), ("From", sender)):
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise MailHeaderError(field)


def send_mail(mail: Mail, *, after_commit: bool = False) -> None:
    """Send now through the configured backend; raise on failure so the caller can retry.

    after_commit: the caller's session has just committed (a send that waited for it); the
    capture backend then writes on a connection of its own.
    """
    check_header_values(mail, current_app.config["MAIL_SENDER"])
    backend = current_app.config["MAIL_BACKEND"]
    if backend == "capture" and after_commit:
        with db.engine.begin() as connection:
            connection.execute(CapturedMail.__table__.insert().values(
                id=uuid.uuid4(), to=mail.to, subject=mail.subject, text_body=mail.text,
                html_body=mail.html or "", created_at=datetime.now(UTC)))
        return
    if backend == "capture":
        db.session.add(
            CapturedMail(to=mail.to, subject=mail.subject, text_body=mail.text, html_body=mail.html)
        )
        if db.session().in_nested_transaction():
            db.session.flush()  # inside a consumer's savepoint: "sent" when the relay commits
        else:
            db.session.commit()
        return
    if backend != "smtp":
        raise ValueError(f"unknown MAIL_BACKEND {backend!r}")
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_SENDER"]
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Message-ID"] = make_msgid(domain="comptoir")
    if mail.reply_to:
        message["Reply-To"] = mail.reply_to
    message.set_content(mail.text)
    if mail.html:
        message.add_alternative(mail.html, subtype="html")
    cfg = current_app.config
    with smtplib.SMTP(cfg["SMTP_HOST"], int(cfg["SMTP_PORT"]), timeout=15) as smtp:
        if cfg["SMTP_STARTTLS"] in (True, "1", "true", "True"):
            smtp.starttls()
        if cfg.get("SMTP_USERNAME"):
            smtp.login(cfg["SMTP_USERNAME"], cfg["SMTP_PASSWORD"] or "")
        smtp.send_message(message)
