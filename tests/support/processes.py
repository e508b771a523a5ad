"""Child processes and server threads for tests: wait on what they do, reap them on every path.

Tests wait on events (a line a child prints, a change a server thread announces), never on wall
time. The timeouts below only bound a wait that has already gone wrong, so they are generous: a
loaded machine makes a test slower, not red.
"""

from __future__ import annotations

import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from types import TracebackType
from typing import Any, NoReturn, Self

from werkzeug.serving import BaseWSGIServer, make_server

PATIENCE = 120.0  # seconds; reached only when what a test waits for never happens
GRACE = 15.0  # seconds between asking a child to stop and killing it


class Changes:
    """A place where threads announce that something changed, and tests wait for a condition."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._version = 0

    def announce(self) -> None:
        """Wake every waiter so it looks again."""
        with self._condition:
            self._version += 1
            self._condition.notify_all()

    def announcing(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """Wrap function so that each call announces a change once it returns or raises."""

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return function(*args, **kwargs)
            finally:
                self.announce()

        return wrapper

    def wait_until(
        self, predicate: Callable[[], Any], timeout: float = PATIENCE, what: str = ""
    ) -> Any:
        """Return predicate() once it is true, looking again after each announced change.

        The predicate runs without the condition held, so it may take locks that announcers
        hold while they announce.
        """
        deadline = time.monotonic() + timeout
        while True:
            with self._condition:
                seen = self._version
            if result := predicate():
                return result
            with self._condition:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._condition.wait_for(
                    lambda seen=seen: self._version != seen, remaining
                ):
                    name = what or getattr(predicate, "__name__", "the condition")
                    raise AssertionError(f"{name} did not happen within {timeout:g} s")


def join_all(threads: Sequence[threading.Thread], timeout: float = PATIENCE) -> None:
    """Join every thread; fail if one is still running, rather than leave it to the next test."""
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    running = [t.name for t in threads if t.is_alive()]
    assert not running, f"threads still running after {timeout:g} s: {running}"


def announce_calls(target: object, names: Sequence[str]) -> Changes:
    """Announce each call of target's named methods (those it has), once per target.

    Install it before the calls a test waits for can start: a call already running when its
    method is wrapped announces nothing.
    """
    changes: Changes | None = target.__dict__.get("_test_changes")
    if changes is None:
        changes = Changes()
        for name in names:
            method = getattr(target, name, None)
            if method is not None:
                setattr(target, name, changes.announcing(method))
        target.__dict__["_test_changes"] = changes
    return changes


class Child:
    """A child process whose output (stdout with stderr) is read as it comes.

    Use it as a context manager: on leaving, however the block ends, the child is asked to stop
    (stop_signal), killed after a grace period, reaped, and its pipe is closed.
    """

    def __init__(
        self,
        args: Sequence[str],
        *,
        stop_signal: int = signal.SIGTERM,
        grace: float = GRACE,
        **popen: Any,
    ) -> None:
        self.args = list(args)
        self.stop_signal = stop_signal
        self.grace = grace
        self._lines: list[str] = []
        self._eof = False
        self._changed = threading.Condition()
        self.process = subprocess.Popen(
            self.args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            **popen,
        )
        self._reader = threading.Thread(
            target=self._read, name=f"child-{self.process.pid}-output", daemon=True
        )
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def output(self) -> str:
        """Everything the child has printed so far."""
        with self._changed:
            return "".join(self._lines)

    def _read(self) -> None:
        assert self.process.stdout is not None
        try:
            for line in self.process.stdout:
                with self._changed:
                    self._lines.append(line)
                    self._changed.notify_all()
        finally:
            with self._changed:
                self._eof = True
                self._changed.notify_all()

    def wait_for_line(self, pattern: str, timeout: float = PATIENCE) -> re.Match[str]:
        """Wait until the child prints a line matching pattern; fail at once if it ends first."""
        regex = re.compile(pattern)

        def match() -> re.Match[str] | None:
            return next((m for line in self._lines if (m := regex.search(line))), None)

        with self._changed:
            self._changed.wait_for(lambda: match() is not None or self._eof, timeout)
            found = match()
        if found is None:
            self.fail(f"never printed a line matching {pattern!r}")
        return found

    def fail(self, message: str) -> NoReturn:
        """Raise an AssertionError that shows what the child printed."""
        status = self.process.poll()
        state = "still running" if status is None else f"exited with {status}"
        raise AssertionError(f"{self.args[:4]} {message} ({state}); its output:\n{self.output}")

    def signal(self, signum: int) -> None:
        """Send signum to the child, if it still runs (and has not been reaped)."""
        with suppress(ProcessLookupError):
            self.process.send_signal(signum)

    def wait(self, timeout: float = PATIENCE) -> int:
        """Wait for the child to end and return its exit status."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.fail(f"did not end within {timeout:g} s")

    def stop(self) -> int:
        """Ask the child to stop, kill it after the grace period, reap it and close its pipe."""
        try:
            self.signal(self.stop_signal)
            try:
                self.process.wait(self.grace)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.process.wait()
        finally:
            self._reader.join(self.grace)
            if self.process.stdout is not None:
                self.process.stdout.close()
        return self.process.returncode

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextmanager
def serving(app: Any, **options: Any) -> Iterator[BaseWSGIServer]:
    """Serve a WSGI app on 127.0.0.1 (a free port) from a thread for the duration of the block.

    On leaving, the server stops accepting, the requests in progress finish (their threads are
    joined), and the listening socket is closed.
    """
    server = make_server("127.0.0.1", 0, app, threaded=True, **options)
    server.daemon_threads = False  # joined by server_close(), not abandoned
    server.block_on_close = True
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name=f"wsgi-{server.server_port}",
    )
    try:
        thread.start()
        yield server
    finally:
        if thread.is_alive():
            server.shutdown()
            thread.join()
        server.server_close()
