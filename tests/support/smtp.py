"""A real SMTP server on loopback (aiosmtpd) that tests read e-mails from, waiting on arrivals."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask

from support.processes import PATIENCE, Changes

URL_RE = re.compile(r"https?://[^\s\"'<>]+")


@dataclass
class Mailbox:
    """What the loopback SMTP server received."""

    messages: list[EmailMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrivals: Changes = field(default_factory=Changes)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
        self.arrivals.announce()
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if m["To"] == address]

    def wait_for(
        self, address: str, count: int = 1, timeout: float = PATIENCE
    ) -> list[EmailMessage]:
        """Wait until at least `count` e-mails to the address have arrived; return them."""
        return self.arrivals.wait_until(
            lambda: (found := self.to(address)) and len(found) >= count and found,
            timeout, f"{count} e-mail(s) to {address}",
        )

    @staticmethod
    def text(message: EmailMessage) -> str:
        part = message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""

    def links(self, message: EmailMessage, containing: str = "") -> list[str]:
        """The links of an e-mail's text part (those containing a string)."""
        return [u for u in URL_RE.findall(self.text(message)) if containing in u]


@pytest.fixture(scope="session")
def smtp_mailbox() -> Iterator[tuple[Controller, Mailbox]]:
    box = Mailbox()
    with socket.socket() as probe:  # aiosmtpd's start-up self-check cannot connect to port 0
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield controller, box
    finally:
        controller.stop()


@pytest.fixture
def mailbox(app: Flask, smtp_mailbox: tuple[Controller, Mailbox]) -> Mailbox:
    """The app sending real e-mail over SMTP to a loopback server; the box starts empty."""
    controller, box = smtp_mailbox
    with box.lock:
        box.messages.clear()
    app.config.update(MAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=controller.port)
    return box
