"""A partner's webhook endpoint on loopback: records what it receives, answers as told."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from support.processes import serving


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    received: list[Received] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)  # status codes to give, in turn; then 200
    hold: threading.Event | None = None  # while set to an unset Event, requests wait on it
    in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.received) >= count, timeout):
                raise AssertionError(f"{len(self.received)} of {count} webhook(s) arrived")
            return list(self.received)

    def wait_in_flight(self, timeout: float = 30.0) -> None:
        with self.arrived:
            if not self.arrived.wait_for(lambda: self.in_flight > 0, timeout):
                raise AssertionError("no webhook request arrived")


@contextmanager
def receiving() -> Iterator[Receiver]:
    receiver = Receiver(url="")

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items()
                   if k.startswith("HTTP_")}
        with receiver.arrived:
            receiver.in_flight += 1
            receiver.arrived.notify_all()
        if receiver.hold is not None:
            receiver.hold.wait(60)
        with receiver.lock:
            code = receiver.answers.pop(0) if receiver.answers else 200
        with receiver.arrived:
            receiver.in_flight -= 1
            receiver.received.append(Received(environ["PATH_INFO"], headers, body))
            receiver.arrived.notify_all()
        extra = [("Location", receiver.url + "/elsewhere")] if 300 <= code < 400 else []
        start_response(f"{code} Status", [("Content-Type", "text/plain"), *extra])
        return [b"ok"]

    with serving(app) as server:
        receiver.url = f"http://127.0.0.1:{server.server_port}"
        yield receiver
