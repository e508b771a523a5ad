"""A local VIES for development and tests: the REST interface commerce/vies.py speaks.

The real register is out of reach here. The simulator holds every number whose format and check
digits are right (python-stdnum) as registered, except those it is told are not, answers each
check with a consultation number of VIES's shape (`WAPI` and twelve characters) when a requester
is given, and can play a member state, or all of them, being down. `comptoir vies-sim` serves
it; tests drive it through its handle.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from stdnum.eu import vat as eu_vat

log = logging.getLogger(__name__)
MAX_BODY = 16 * 1024
ALL = "*"


class ViesSimulator:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.unregistered: set[str] = set()  # full numbers (DE136695976) VIES says are invalid
        self.down: set[str] = set()  # member states (VAT prefixes) not answering, or "*"
        self.checks: list[dict[str, str]] = []  # what was asked, newest last
        self._sequence = itertools.count(1)

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        country = str(body.get("countryCode") or "").upper()
        number = str(body.get("vatNumber") or "").upper().replace(" ", "")
        if len(country) != 2 or not number:
            return 400, {"actionSucceed": False,
                         "errorWrappers": [{"error": "INVALID_INPUT"}]}
        with self.lock:
            self.checks.append({"countryCode": country, "vatNumber": number})
            if ALL in self.down or country in self.down:
                return 200, {"countryCode": country, "vatNumber": number, "valid": False,
                             "userError": "MS_UNAVAILABLE"}
            full = country + number
            valid = eu_vat.is_valid(full) and full not in self.unregistered
            reference = None
            if body.get("requesterNumber"):
                reference = f"WAPI{next(self._sequence):012d}"
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return 200, {
            "countryCode": country,
            "vatNumber": number,
            "requestDate": now,
            "valid": valid,
            "requestIdentifier": reference or "",
            "name": "Simulated business " + full if valid else "---",
            "address": "---",
            "userError": "VALID" if valid else "INVALID",
        }


class _Handler(BaseHTTPRequestHandler):
    server: ViesServer
    timeout = 10
    server_version = "ViesSimulator/1.0"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._send(413, {"actionSucceed": False, "errorWrappers": [{"error": "TOO_LARGE"}]})
            return
        if self.path.rstrip("/").split("?")[0] != "/check-vat-number":
            self._send(404, {"actionSucceed": False, "errorWrappers": [{"error": "NOT_FOUND"}]})
            return
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self._send(400, {"actionSucceed": False,
                             "errorWrappers": [{"error": "INVALID_INPUT"}]})
            return
        self._send(*self.server.simulator.answer(body))

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s - %s", self.address_string(), format % args)


class ViesServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], simulator: ViesSimulator) -> None:
        self.simulator = simulator
        super().__init__(address, _Handler)


class ViesHandle:
    """The simulator serving on loopback from a thread; stop() shuts it down."""

    def __init__(self, port: int = 0) -> None:
        self.simulator = ViesSimulator()
        self.server = ViesServer(("127.0.0.1", port), self.simulator)
        host, bound = self.server.server_address[:2]
        self.url = f"http://{host!s}:{bound}"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, name="vies-sim")
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
