"""The suite's own rules: a missing service skips locally, fails under CI; children are reaped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from support.environment import browser_problem, in_ci, postgres_problem, redis_problem
from support.processes import Changes, Child

TESTS = Path(__file__).resolve().parent
CLOSED_PORT_URL = "postgresql+psycopg://postgres@127.0.0.1:9/nothing"

NEEDS_A_SERVICE = '''
from support.environment import require

def test_needs_a_service():
    require("a fake service", "nothing listens on its port")
'''

NEEDS_POSTGRES = '''
def test_needs_postgres(postgres_only):
    pass

def test_runs_anywhere():
    pass
'''


def run_pytest(directory: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run pytest with the suite's environment plugin on the tests in directory."""
    (directory / "pytest.ini").write_text(
        "[pytest]\naddopts = --strict-markers -p no:cacheprovider\nfilterwarnings = error\n"
        "markers =\n    postgres: needs PostgreSQL\n"
    )
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CI", "COMPTOIR_TEST_DATABASE_URL") and not k.startswith("PYTEST_")
    }
    clean["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), clean.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "support.environment", "-rs", *args],
        cwd=directory,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    ("value", "ci"),
    [("true", True), ("1", True), ("yes", True), (" TRUE ", True), ("Yes", True),
     (None, False), ("", False), ("false", False), ("0", False), ("no", False)],
)
def test_ci_means_ci_set_to_true_1_or_yes(
    monkeypatch: pytest.MonkeyPatch, value: str | None, ci: bool
) -> None:
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    assert in_ci() is ci


def test_a_missing_service_fails_the_test_under_ci(tmp_path: Path) -> None:
    (tmp_path / "test_fake.py").write_text(NEEDS_A_SERVICE)
    result = run_pytest(tmp_path, CI="true")
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout + result.stderr
    assert "1 failed" in result.stdout and "skipped" not in result.stdout
    assert "needs a fake service: nothing listens on its port" in result.stdout


def test_a_missing_service_skips_the_test_elsewhere(tmp_path: Path) -> None:
    (tmp_path / "test_fake.py").write_text(NEEDS_A_SERVICE)
    result = run_pytest(tmp_path)
    assert result.returncode == pytest.ExitCode.OK, result.stdout + result.stderr
    assert "1 skipped" in result.stdout and "failed" not in result.stdout
    assert "needs a fake service: nothing listens on its port" in result.stdout


def test_postgres_only_tests_are_marked_and_deselected_by_the_marker(tmp_path: Path) -> None:
    (tmp_path / "test_db.py").write_text(NEEDS_POSTGRES)
    result = run_pytest(tmp_path, "-m", "not postgres", CI="true")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed, 1 deselected" in result.stdout


def test_under_ci_a_run_that_needs_postgres_without_it_refuses_to_start(tmp_path: Path) -> None:
    (tmp_path / "test_db.py").write_text(NEEDS_POSTGRES)
    result = run_pytest(tmp_path, CI="true")
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "1 selected tests need PostgreSQL" in output and "passed" not in output


def test_without_ci_a_postgres_only_test_skips_on_sqlite(tmp_path: Path) -> None:
    (tmp_path / "test_db.py").write_text(NEEDS_POSTGRES)
    result = run_pytest(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed, 1 skipped" in result.stdout


def test_under_ci_an_unreachable_database_refuses_the_run(tmp_path: Path) -> None:
    (tmp_path / "test_db.py").write_text(NEEDS_POSTGRES)
    result = run_pytest(tmp_path, "-m", "not postgres", CI="true",
                        COMPTOIR_TEST_DATABASE_URL=CLOSED_PORT_URL)
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    assert "did not answer" in result.stdout + result.stderr


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_probes_say_what_is_missing(tmp_path: Path) -> None:
    port = _closed_port()
    assert f"no Redis answers on 127.0.0.1:{port}" in (redis_problem(("127.0.0.1", port)) or "")
    browser = browser_problem(tmp_path / "axe.min.js") or ""
    assert "no axe-core" in browser or "no Chromium" in browser
    assert "unset" in (postgres_problem("") or "")
    assert "not a PostgreSQL URL" in (postgres_problem("sqlite:///x.db") or "")
    assert "did not answer" in (postgres_problem(CLOSED_PORT_URL) or "")


def test_the_redis_probe_wants_a_pong() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]

        def answer() -> None:
            connection, _ = server.accept()
            with connection:
                connection.recv(64)
                connection.sendall(b"-ERR not redis\r\n")

        thread = threading.Thread(target=answer)
        thread.start()
        try:
            problem = redis_problem(("127.0.0.1", port))
        finally:
            thread.join()
    assert problem is not None and "not +PONG" in problem


def test_a_child_is_reaped_and_its_pipe_closed_when_the_block_fails() -> None:
    script = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); " \
             "print('ready', flush=True); time.sleep(600)"
    with pytest.raises(RuntimeError), Child([sys.executable, "-c", script], grace=0.5) as child:
        child.wait_for_line("^ready$")
        raise RuntimeError("the test failed here")
    assert child.process.returncode == -signal.SIGKILL  # ignored SIGTERM, so killed
    assert child.process.stdout is not None and child.process.stdout.closed


def test_waiting_for_a_line_fails_at_once_when_the_child_ends_without_it() -> None:
    started = time.monotonic()
    with Child([sys.executable, "-c", "print('something else')"]) as child:
        with pytest.raises(AssertionError, match="never printed"):
            child.wait_for_line("ready", timeout=600)
    assert time.monotonic() - started < 300  # ended by the child's exit, not by the timeout
    assert child.process.returncode == 0


def test_changes_wake_a_waiter_as_soon_as_the_condition_holds() -> None:
    changes, box = Changes(), []

    def produce() -> None:
        for n in range(3):
            box.append(n)
            changes.announce()

    thread = threading.Thread(target=produce)
    thread.start()
    try:
        assert changes.wait_until(lambda: len(box) == 3 and box) == [0, 1, 2]
    finally:
        thread.join()
    with pytest.raises(AssertionError, match="nothing did not happen within 0.01 s"):
        changes.wait_until(lambda: False, timeout=0.01, what="nothing")
