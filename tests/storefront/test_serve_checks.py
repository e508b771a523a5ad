"""`comptoir serve` in development: it checks that the simulators it starts are listening, and a
port already taken stops it with a message saying how to move it, never a traceback."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests
from support.processes import Child

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def taken_port() -> Iterator[int]:
    """A port another program listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def serve_env(test_settings: dict[str, Any], tmp_path: Any, **urls: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPTOIR_")}
    env.update({f"COMPTOIR_{k}": str(v) for k, v in test_settings.items()
                if k in ("SECRET_KEY", "LICENSING_KEK", "VAULT_KEY", "PRODUCT_KEYS_KEY",
                         "NEXWAY_API_KEY", "NEXWAY_CALLBACK_SECRET", "ARVATO_USERNAME",
                         "ARVATO_PASSWORD", "DATABASE_URL")})
    env.update(COMPTOIR_ENV="testing", COMPTOIR_INSTANCE_PATH=str(tmp_path),
               COMPTOIR_SESSION_DIR=str(tmp_path / "sessions"),
               COMPTOIR_NEXWAY_URL=f"http://127.0.0.1:{free_port()}",
               COMPTOIR_ARVATO_URL=f"http://127.0.0.1:{free_port()}",
               COMPTOIR_VIES_URL=f"http://127.0.0.1:{free_port()}")
    env.update({f"COMPTOIR_{k}": v for k, v in urls.items()})
    return env


def serve(port: int) -> list[str]:
    return [sys.executable, "-c", "from app import cli; cli()", "serve", "--port", str(port),
            "--workers", "1"]


def ended(child: Child, timeout: float = 60) -> int:
    return child.process.wait(timeout)


def test_a_taken_simulator_port_stops_serve_with_how_to_move_it(test_settings, tmp_path):
    with taken_port() as port:
        env = serve_env(test_settings, tmp_path, NEXWAY_URL=f"http://127.0.0.1:{port}")
        with Child(serve(free_port()), env=env) as child:
            code = ended(child)
    out = child.output
    assert code == 1, out
    assert f"Nexway simulator cannot listen on port {port}" in out
    assert "COMPTOIR_NEXWAY_URL=http://127.0.0.1:PORT" in out
    assert "Traceback" not in out
    assert "Booting worker" not in out  # the shop did not start


def test_a_taken_shop_port_stops_serve_before_anything_starts(test_settings, tmp_path):
    env = serve_env(test_settings, tmp_path)
    vies_port = int(env["COMPTOIR_VIES_URL"].rsplit(":", 1)[1])
    with taken_port() as port, Child(serve(port), env=env) as child:
        code = ended(child)
    out = child.output
    assert code == 1, out
    assert f"cannot listen on 127.0.0.1:{port}" in out and "--port N" in out
    assert "Traceback" not in out
    assert "simulator on" not in out  # no simulator was started
    with socket.socket() as probe:  # and none is left behind
        assert probe.connect_ex(("127.0.0.1", vies_port)) != 0


def test_serve_starts_the_simulators_and_says_where_they_listen(test_settings, tmp_path):
    env = serve_env(test_settings, tmp_path)
    port = free_port()
    with Child(serve(port), env=env) as child:
        child.wait_for_line(r"Booting worker")
        out = child.output
        for name, setting in (("Nexway", "NEXWAY_URL"), ("Arvato", "ARVATO_URL"),
                              ("VIES", "VIES_URL")):
            url = env[f"COMPTOIR_{setting}"]
            assert f"{name} simulator on {url} (COMPTOIR_{setting} moves it)" in out, out
        # Listening before the shop booted: the summary is printed only once they answer.
        assert out.index("Arvato simulator on") < out.index("Booting worker")
        state = requests.get(env["COMPTOIR_NEXWAY_URL"] + "/_sim/state", timeout=10)
        assert state.status_code == 200
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=30).status_code == 200
