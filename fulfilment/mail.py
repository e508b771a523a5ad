"""Sending e-mail: SMTP in production and tests, caught into the dev mail page in development."""

from __future__ import annotations

import smtplib
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

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
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=_sender_domain())
    if mail.reply_to:
        message["Reply-To"] = mail.reply_to
    message.set_content(mail.text)
    if mail.html:
        message.add_alternative(mail.html, subtype="html")
    smtp = _smtp_connection()
    try:
        smtp.send_message(message)
    except BaseException:
        _drop()  # its state is unknown now: the next message opens another
        raise


def _sender_domain() -> str:
    """The domain of the sender's address, for Message-IDs that name a real domain of ours."""
    address = parseaddr(str(current_app.config["MAIL_SENDER"]))[1]
    return address.rpartition("@")[2].lower() or "localhost"


# One SMTP connection per thread, kept open between messages (a worker sends many): a session's
# greeting, TLS and login are paid once. A kept connection is checked with NOOP before use, so
# a message is only ever sent on a connection that answered; one the server dropped is replaced.
SMTP_IDLE_SECONDS = 30.0  # a connection idle longer is closed, before servers drop it themselves


class _Kept:
    """A thread's SMTP connection; closed when the thread ends and lets go of it."""

    def __init__(self, key: tuple[object, ...], smtp: smtplib.SMTP) -> None:
        self.key, self.smtp, self.last_used = key, smtp, time.monotonic()

    def __del__(self) -> None:
        self.smtp.close()


_connections = threading.local()


def _smtp_connection() -> smtplib.SMTP:
    cfg = current_app.config
    key = (cfg["SMTP_HOST"], int(cfg["SMTP_PORT"]), cfg["SMTP_STARTTLS"],
           cfg.get("SMTP_USERNAME") or "")
    kept: _Kept | None = getattr(_connections, "kept", None)
    if kept is not None:
        fresh = kept.key == key and time.monotonic() - kept.last_used < SMTP_IDLE_SECONDS
        try:
            if fresh and kept.smtp.noop()[0] == 250:
                kept.last_used = time.monotonic()
                return kept.smtp
        except (smtplib.SMTPException, OSError):
            pass
        _drop()
    smtp = smtplib.SMTP(key[0], key[1], timeout=15)
    try:
        if cfg["SMTP_STARTTLS"] in (True, "1", "true", "True"):
            smtp.starttls()
        if cfg.get("SMTP_USERNAME"):
            smtp.login(cfg["SMTP_USERNAME"], cfg["SMTP_PASSWORD"] or "")
    except BaseException:
        smtp.close()
        raise
    _connections.kept = _Kept(key, smtp)
    return smtp


def _drop() -> None:
    """Close and forget this thread's kept connection, if any."""
    kept: _Kept | None = getattr(_connections, "kept", None)
    _connections.kept = None
    if kept is not None:
        try:
            kept.smtp.quit()
        except (smtplib.SMTPException, OSError):
            pass
        kept.smtp.close()
