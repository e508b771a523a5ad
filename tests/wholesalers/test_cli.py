"""The `comptoir wholesaler-sim` command."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

import requests
from support.processes import Child

from fulfilment.wholesalers import SupplierOrderRequest, get_wholesaler


def test_the_command_names_both_simulators(runner: Any) -> None:
    result = runner.invoke(args=["wholesaler-sim", "--help"])
    assert result.exit_code == 0
    assert "nexway" in result.output and "arvato" in result.output
    unknown = runner.invoke(args=["wholesaler-sim", "ingram"])
    assert unknown.exit_code != 0


def test_the_simulator_serves_with_the_apps_credentials(tmp_path: Path) -> None:
    env = {**os.environ,
           "COMPTOIR_ENV": "testing",
           "COMPTOIR_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
           "COMPTOIR_ARVATO_USERNAME": "cli-user",
           "COMPTOIR_ARVATO_PASSWORD": "cli-password"}
    # Ctrl-C's default handling, even when the suite was started with SIGINT ignored (as a
    # shell without job control starts background commands): ignored dispositions are inherited.
    code = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); " \
           "from app import cli; cli()"
    command = [sys.executable, "-c", code, "wholesaler-sim", "arvato", "--port", "0"]
    root = Path(__file__).resolve().parents[2]
    with Child(command, env=env, cwd=root, stop_signal=signal.SIGINT) as process:
        url = process.wait_for_line(r"listening on (http://127\.0\.0\.1:\d+)").group(1)
        settings = {"ARVATO_URL": url, "ARVATO_USERNAME": "cli-user",
                    "ARVATO_PASSWORD": "cli-password", "WHOLESALER_TIMEOUT": 30.0}
        with get_wholesaler("arvato", settings) as arvato:
            order = arvato.place_order(SupplierOrderRequest("CPT-CLI-1", "AR-OFF-HOME-24", 1))
        assert len(order.items) == 1
        assert requests.get(url + "/_sim/state", timeout=30).json()["purchases"] == 1
        process.signal(signal.SIGINT)  # Ctrl-C: the command stops its simulator on the way out
        process.wait()
        process.wait_for_line(r"arvato simulator stopped")
