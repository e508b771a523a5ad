"""The HTTP side of a simulator: a threaded loopback server and its request handler."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from fulfilment.simulators.common import MAX_BODY, Simulator


class SimulatorServer(ThreadingHTTPServer):
    """A threaded HTTP server that joins its request threads when it closes."""

    daemon_threads = False
    block_on_close = True

    def __init__(self, address: tuple[str, int], simulator: Simulator):
        self.simulator = simulator
        super().__init__(address, SimulatorRequestHandler)


class SimulatorRequestHandler(BaseHTTPRequestHandler):
    """Read one request, let the simulator answer it, write the answer."""

    server: SimulatorServer
    timeout = 10
    server_version = "WholesalerSimulator/1.0"

    def do_GET(self) -> None:
        """Answer a GET."""
        self.dispatch("GET")

    def do_POST(self) -> None:
        """Answer a POST."""
        self.dispatch("POST")

    def do_PUT(self) -> None:
        """Answer a PUT (Nexway Connect cancels and extends downloads with PUT)."""
        self.dispatch("PUT")

    def dispatch(self, method: str) -> None:
        """Answer one request, holding the answer back when the simulator plays a timeout."""
        simulator = self.server.simulator
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.send_error(413)
            return
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        reply = simulator.handle(method, self.path, headers, body)
        if reply.hold_seconds and simulator.stopping.wait(reply.hold_seconds):
            return
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            if reply.status == 401:
                self.send_header("WWW-Authenticate", f'Basic realm="{simulator.name}"')
            self.end_headers()
            self.wfile.write(reply.body)
        except OSError:
            simulator.log.info("the client left before the answer (%s %s)", method, self.path)

    def log_message(self, format: str, *args: Any) -> None:
        """Log through logging rather than to stderr."""
        self.server.simulator.log.info("%s - %s", self.address_string(), format % args)
