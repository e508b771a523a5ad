"""The client's address, read through the reverse proxies the operator names, and no others."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.middleware.proxy_fix import ProxyFix

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(value: str) -> tuple[Network, ...]:
    """Parse COMPTOIR_TRUSTED_PROXIES: addresses or networks, comma- or space-separated."""
    networks = []
    for item in value.replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise ValueError(f"COMPTOIR_TRUSTED_PROXIES: {item!r} is not an address or a "
                             "network") from exc
    return tuple(networks)


class TrustedProxies:
    """ProxyFix, applied only as far as the hops are proxies we trust.

    werkzeug's ProxyFix believes a fixed number of X-Forwarded-For entries. Here the count is
    found per request: the peer must be a trusted proxy, then each entry from the right is
    believed while it too is a trusted proxy; the first other address is the client. A request
    that does not come from a trusted proxy keeps its own peer address and its own Host.
    """

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]], networks: tuple[Network, ...]):
        self.wsgi_app = wsgi_app
        self.networks = networks
        self._fixes: dict[int, ProxyFix] = {}

    def trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def hops(self, environ: dict[str, Any]) -> int:
        """How many proxies in front of us to believe for this request (0: none)."""
        if not self.networks or not self.trusted(environ.get("REMOTE_ADDR", "")):
            return 0
        forwarded = [a for a in environ.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
        hops = 1  # the peer is a trusted proxy: the last entry is the address it saw
        for address in reversed(forwarded):
            if not self.trusted(address):
                break
            hops += 1  # that address was a trusted proxy too: believe the entry before it
        return min(hops, max(len(forwarded), 1))

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        hops = self.hops(environ)
        if hops == 0:
            for header in ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO",
                           "HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_PORT",
                           "HTTP_X_FORWARDED_PREFIX"):
                environ.pop(header, None)
            return self.wsgi_app(environ, start_response)
        fix = self._fixes.get(hops)
        if fix is None:
            fix = self._fixes[hops] = ProxyFix(self.wsgi_app, x_for=hops, x_proto=1, x_host=1,
                                               x_port=1)
        return fix(environ, start_response)
