"""The outside services the suite needs: a missing one skips a test locally and fails it under CI.

Loaded as a plugin by tests/conftest.py. Under CI (CI=true, 1 or yes) it also refuses to start a
run whose selected tests need a service that is not there: PostgreSQL for `postgres` tests (and a
reachable server whenever COMPTOIR_TEST_DATABASE_URL is set), Redis for `redis` tests, Chromium
and axe-core for `e2e` tests.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATABASE_VARIABLE = "COMPTOIR_TEST_DATABASE_URL"
REDIS_ADDRESS = ("127.0.0.1", 6379)
DEBIAN_CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
CI_VALUES = frozenset({"true", "1", "yes"})


def in_ci() -> bool:
    """Say whether the run is CI's (CI=true, 1 or yes), where no service may be missing."""
    return os.environ.get("CI", "").strip().lower() in CI_VALUES


def require(what: str, reason: str) -> NoReturn:
    """Stop the current test for want of a service: skip it locally, fail it under CI."""
    message = f"needs {what}: {reason}"
    if in_ci():
        pytest.fail(f"{message} (CI=true: a missing service fails the run)", pytrace=False)
    pytest.skip(message)


# -- probes: each returns why the service is missing, or None when it is there ---------------------


def redis_problem(address: tuple[str, int] = REDIS_ADDRESS, timeout: float = 5.0) -> str | None:
    """Check that Redis answers PING at address."""
    host, port = address
    try:
        with socket.create_connection(address, timeout=timeout) as connection:
            connection.sendall(b"PING\r\n")
            answer = connection.recv(64)
    except OSError as exc:
        return f"no Redis answers on {host}:{port} ({exc})"
    if not answer.startswith(b"+PONG"):
        return f"{host}:{port} answered {answer[:40]!r} to PING, not +PONG"
    return None


def chromium_path() -> Path | None:
    """Return Debian's Chromium, or a `chromium` on PATH."""
    if DEBIAN_CHROMIUM.exists():
        return DEBIAN_CHROMIUM
    found = shutil.which("chromium")
    return Path(found) if found else None


def browser_problem(axe: Path = AXE) -> str | None:
    """Check that the browser tests' tools are installed: Chromium and axe-core."""
    if chromium_path() is None:
        return "no Chromium at /usr/bin/chromium or on PATH (`make e2e-deps` installs it)"
    if not axe.exists():
        return f"no axe-core at {axe}: run `npm install` (`make e2e-deps` does)"
    return None


def database_url() -> str:
    """Return the test database URL from the environment ('' means a temporary SQLite file)."""
    return os.environ.get(DATABASE_VARIABLE, "")


def postgres_problem(url: str | None = None) -> str | None:
    """Check that the test database is PostgreSQL and that it answers a query."""
    url = database_url() if url is None else url
    if not url:
        return f"{DATABASE_VARIABLE} is unset, so the tests run on SQLite"
    if not url.startswith("postgresql"):
        return f"{DATABASE_VARIABLE} is not a PostgreSQL URL"
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 10})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure to connect is the answer
        return f"PostgreSQL at {engine.url.render_as_string()} did not answer: {exc}".strip()
    finally:
        engine.dispose()
    return None


# Marker -> (what the tests need, the probe). A selected test with the marker needs the service.
SERVICES: dict[str, tuple[str, Callable[[], str | None]]] = {
    "postgres": ("PostgreSQL", postgres_problem),
    "redis": ("Redis on 127.0.0.1:6379", redis_problem),
    "e2e": ("Chromium and axe-core", browser_problem),
}


@pytest.fixture
def postgres_only() -> None:
    """Run the test on PostgreSQL only (the test is marked `postgres` by the hook below)."""
    if not database_url().startswith("postgresql"):
        require("PostgreSQL", f"set {DATABASE_VARIABLE} (`make test`'s second pass does)")


# -- hooks ----------------------------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "redis: needs Redis on 127.0.0.1:6379")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under CI, refuse a run whose database URL names a server that does not answer."""
    if in_ci() and database_url() and (problem := postgres_problem()):
        pytest.exit(f"CI=true: {problem}", returncode=pytest.ExitCode.USAGE_ERROR)


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `postgres` every test that asks for the postgres_only fixture."""
    for item in items:
        if "postgres_only" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Under CI, refuse to run tests whose services are missing rather than fail them one by one."""
    if not in_ci() or not session.items:
        return
    problems = []
    for marker, (what, probe) in SERVICES.items():
        needing = [item for item in session.items if item.get_closest_marker(marker)]
        if needing and (problem := probe()):
            problems.append(f"{len(needing)} selected tests need {what}: {problem}")
    if problems:
        advice = "(deselect them with -m, e.g. -m 'not postgres' for the SQLite pass)"
        pytest.exit(
            "CI=true and a service is missing:\n  " + "\n  ".join(problems) + "\n" + advice,
            returncode=pytest.ExitCode.USAGE_ERROR,
        )
