"""Link tokens never reach a log: not the server's access log, not the app's own lines."""

from __future__ import annotations

import logging
import os
import socket
import sys

import requests
from support.processes import Child

from storefront.security.redact import RedactingFilter, redact

TOKENS = {
    "/p/shop-x/orders/access/ORDERtoken.aaa.bbb": "ORDERtoken",
    "/p/shop-x/backups/link/BACKUPtokenQwErTy": "BACKUPtokenQwErTy",
    "/p/shop-x/account/verify/VERIFYtoken123": "VERIFYtoken123",
    "/account/reset/RESETtoken456?x=1": "RESETtoken456",
    "/cart/from/CARTtoken789": "CARTtoken789",
}


def test_the_production_server_logs_requests_without_their_tokens(test_settings, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPTOIR_")}
    env.update({f"COMPTOIR_{k}": str(v) for k, v in test_settings.items()
                if k in ("SECRET_KEY", "LICENSING_KEK", "VAULT_KEY", "PRODUCT_KEYS_KEY",
                         "NEXWAY_API_KEY", "NEXWAY_CALLBACK_SECRET", "ARVATO_USERNAME",
                         "ARVATO_PASSWORD", "DATABASE_URL")})
    env.update(COMPTOIR_ENV="testing", COMPTOIR_INSTANCE_PATH=str(tmp_path),
               COMPTOIR_SESSION_DIR=str(tmp_path / "sessions"))
    command = [sys.executable, "-c", "from app import cli; cli()", "serve", "--no-embedded",
               "--port", str(port), "--workers", "1"]
    with Child(command, env=env) as server:
        server.wait_for_line(r"Booting worker")
        base = f"http://127.0.0.1:{port}"
        for path in TOKENS:
            requests.get(base + path, allow_redirects=False, timeout=30,
                         headers={"Referer": base + path})
        requests.get(base + "/healthz", timeout=30)
        server.wait_for_line(r'"GET /healthz')
    log = server.output
    assert "GET /p/shop-x/orders/access/[redacted]" in log
    for path, token in TOKENS.items():
        assert token not in log, (path, log)


def test_the_apps_own_log_lines_lose_their_tokens_too(app, caplog):
    record = logging.LogRecord("comptoir", logging.ERROR, __file__, 1,
                               "Exception on %s [GET]", ("/p/a/orders/access/SeCrEt.x.y",), None)
    RedactingFilter().filter(record)
    assert "SeCrEt" not in record.getMessage()
    assert any(isinstance(f, RedactingFilter) for f in app.logger.filters)
    assert redact("/orders/access/expired") == "/orders/access/expired"  # a page, not a token
    assert redact("/account/reset/new") == "/account/reset/new"
