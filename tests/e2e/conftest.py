"""Browser tests: the app on a live local server with the demo data, driven by headless Chromium.

One server and one browser per test module; each test gets a fresh browser context (its own
cookies, so its own cart and session). The tables are emptied when the module is done, as
tests/conftest.py's `app` fixture does after each test, so the next tests start clean.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import expect
from support.environment import browser_problem, chromium_path, require
from support.processes import serving
from werkzeug.serving import WSGIRequestHandler

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
RESULTS = ROOT / "test-results"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# Waits on the page return as soon as it is ready; this bound only matters when it never is,
# so it is generous enough for a machine whose cores are all busy.
TIMEOUT_MS = 30_000
expect.set_options(timeout=TIMEOUT_MS)


def _require_browser_tools() -> None:
    if problem := browser_problem(AXE):
        require("Chromium and axe-core", problem)


class _QuietHandler(WSGIRequestHandler):
    """No access log line per request in the test output."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@dataclass
class LiveServer:
    app: Flask
    url: str

    def shop(self, slug: str, path: str = "") -> str:
        """Address of a page of a partner's shop, e.g. shop("novatech", "products")."""
        return f"{self.url}/p/{slug}/{path.lstrip('/')}"


@pytest.fixture(scope="module")
def live_server(
    test_settings: dict[str, Any], _schema: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """The app on 127.0.0.1 (random port) in a thread, on the test database, with the demo data."""
    _require_browser_tools()
    from support.database import empty_tables

    import demo
    from app import create_app
    from extensions import db

    app = create_app({**test_settings, "VAULT_DIR": str(tmp_path_factory.mktemp("e2e-vault"))})
    with app.app_context():
        demo.load()
        db.session.remove()
    try:
        with serving(app, request_handler=_QuietHandler) as server:
            yield LiveServer(app=app, url=f"http://127.0.0.1:{server.server_port}")
    finally:
        with app.app_context():
            db.session.remove()
            empty_tables()
            db.engine.dispose()


@pytest.fixture(scope="module")
def chromium(live_server: LiveServer) -> Iterator[Any]:
    """One headless Chromium per test module (it closes before the server stops)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(chromium_path()), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def new_page(
    chromium: Any, live_server: Any, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Any]]:
    """Open pages, each in a fresh browser context (own cookies); all closed afterwards."""
    contexts: list[Any] = []

    def open_page(
        locale: str = "en-GB", bypass_csp: bool = False, width: int = 1280, javascript: bool = True
    ) -> Any:
        # bypass_csp only to inject axe-core: the shop's CSP rightly refuses inline scripts.
        context = chromium.new_context(
            locale=locale,
            viewport={"width": width, "height": 900},
            bypass_csp=bypass_csp,
            java_script_enabled=javascript,
        )
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        request.node._e2e_pages = [*getattr(request.node, "_e2e_pages", []), page]
        if not locale.startswith("fr"):
            # The shops speak French until the buyer picks another language, as a person would.
            page.goto(f"{live_server.url}/?lang={locale[:2]}")
        return page

    yield open_page
    for context in contexts:
        context.close()
    request.node._e2e_pages = []


@pytest.fixture
def browser_page(new_page: Callable[..., Any]) -> Any:
    """A browser page preferring English (the French texts are checked apart)."""
    return new_page()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep a screenshot of each open page of a failed browser test in test-results/."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    for n, page in enumerate(getattr(item, "_e2e_pages", [])):
        if page.is_closed():
            continue
        RESULTS.mkdir(exist_ok=True)
        name = "".join(
            c if c.isalnum() or c in "-_." else "_" for c in item.nodeid.split("::", 1)[-1]
        )
        path = RESULTS / f"{name}-{n}.png"
        try:
            page.screenshot(path=str(path), full_page=True)
        except Exception as exc:  # noqa: BLE001 - a screenshot must never hide the real failure
            report.sections.append(("screenshot", f"could not take a screenshot: {exc}"))
        else:
            report.sections.append(("screenshot", f"saved {path} (at {page.url})"))
