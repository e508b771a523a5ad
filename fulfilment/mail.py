"""Sending e-mail: SMTP in production and tests, caught into the dev mail page in development."""

from __future__ import annotations

import smtplib
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.charset import Charset
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.policy import compat32
from email.utils import format_datetime, formataddr, make_msgid, parseaddr

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
    sender = str(current_app.config["MAIL_SENDER"])
    smtp = _smtp_connection()
    try:
        smtp.sendmail(parseaddr(sender)[1], [parseaddr(mail.to)[1]], mime_bytes(mail, sender))
    except BaseException:
        _drop()  # its state is unknown now: the next message opens another
        raise


_SMTP_LINES = compat32.clone(linesep="\r\n")  # SMTP's line ending, which sendmail leaves as is
_BODY = Charset("utf-8")  # base64 bodies: short lines, and the text read back exactly as written


def mime_bytes(mail: Mail, sender: str) -> bytes:
    """The message as sent: text, with its HTML alternative, in UTF-8.

    Built with the email package's classic MIME classes, which write headers as given; the
    modern EmailMessage parses and refolds each header, for several times the CPU of a worker's
    whole send. So non-ASCII is encoded here (RFC 2047 words), and header values were checked
    for line breaks before (check_header_values).
    """
    message: MIMENonMultipart | MIMEMultipart = _text_part(mail.text, "plain")
    if mail.html:
        message = MIMEMultipart("alternative", _subparts=[message, _text_part(mail.html, "html")])
    message["From"] = _address(sender)
    message["To"] = _address(mail.to)
    message["Subject"] = (mail.subject if mail.subject.isascii()  # type: ignore[assignment]
                          else Header(mail.subject, "utf-8", header_name="Subject"))
    message["Date"] = format_datetime(datetime.now(UTC))
    # A Message-ID on the sender's own domain, as receiving servers expect.
    message["Message-ID"] = make_msgid(
        domain=parseaddr(sender)[1].rpartition("@")[2].lower() or "localhost")
    if mail.reply_to:
        message["Reply-To"] = _address(mail.reply_to)
    return message.as_bytes(policy=_SMTP_LINES)


def _text_part(text: str, subtype: str) -> MIMENonMultipart:
    part = MIMENonMultipart("text", subtype, charset="utf-8")
    part.set_payload(text, _BODY)
    return part


def _address(value: str) -> str:
    """A header address with its display name encoded where it is not ASCII."""
    name, address = parseaddr(value)
    return formataddr((name, address), charset="utf-8") if address else value


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
