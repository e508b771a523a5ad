"""The client address is read through the proxies COMPTOIR_TRUSTED_PROXIES names, and no others."""

from __future__ import annotations

import pytest
from werkzeug.test import EnvironBuilder

from storefront.security.proxies import TrustedProxies, parse_networks


def _seen(networks: str, remote: str, forwarded: str | None, proto: str | None = None):
    seen = {}

    def app(environ, start_response):
        seen.update(addr=environ["REMOTE_ADDR"], scheme=environ["wsgi.url_scheme"])
        start_response("200 OK", [])
        return [b""]

    headers = {}
    if forwarded is not None:
        headers["X-Forwarded-For"] = forwarded
    if proto:
        headers["X-Forwarded-Proto"] = proto
    environ = EnvironBuilder(headers=headers, environ_base={"REMOTE_ADDR": remote}).get_environ()
    TrustedProxies(app, parse_networks(networks))(environ, lambda *a: None)
    return seen


def test_a_forwarded_for_header_from_anyone_else_is_ignored():
    assert _seen("10.0.0.0/8", "198.51.100.7", "1.2.3.4")["addr"] == "198.51.100.7"
    assert _seen("", "198.51.100.7", "1.2.3.4")["addr"] == "198.51.100.7"


def test_the_client_is_the_first_address_that_is_not_a_trusted_proxy():
    # client -> CDN (10.1.0.5) -> load balancer (10.0.0.2) -> us
    assert _seen("10.0.0.0/8", "10.0.0.2", "203.0.113.9, 10.1.0.5")["addr"] == "203.0.113.9"
    # a client forging an earlier hop gains nothing: the first untrusted entry from the right wins
    assert _seen("10.0.0.0/8", "10.0.0.2", "6.6.6.6, 203.0.113.9")["addr"] == "203.0.113.9"


def test_the_scheme_comes_from_a_trusted_proxy_only():
    assert _seen("10.0.0.2", "10.0.0.2", "203.0.113.9", "https")["scheme"] == "https"
    assert _seen("10.0.0.2", "198.51.100.7", "203.0.113.9", "https")["scheme"] == "http"


def test_a_bad_setting_is_refused_naming_it():
    with pytest.raises(ValueError, match="COMPTOIR_TRUSTED_PROXIES: 'not-an-ip'"):
        parse_networks("10.0.0.1, not-an-ip")


def test_the_app_reads_addresses_through_the_named_proxies(test_settings, _schema, make_partner,
                                                           make_user, caplog):
    import logging
    import re

    from app import create_app
    from extensions import db

    app = create_app({**test_settings, "TRUSTED_PROXIES": "127.0.0.1"})
    with app.app_context():
        make_user(email="op@comptoir.example", role="operator", password="operator pass 2026")
        client = app.test_client()
        headers = {"X-Forwarded-For": "203.0.113.77"}
        html = client.get("/admin/login", headers=headers).get_data(as_text=True)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
        with caplog.at_level(logging.WARNING, "comptoir.security"):
            client.post("/admin/login", headers=headers, data={
                "csrf_token": token, "email": "op@comptoir.example", "password": "wrong"})
        db.session.remove()
        db.engine.dispose()
    assert "from 203.0.113.77" in caplog.text
