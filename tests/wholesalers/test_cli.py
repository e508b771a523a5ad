"""The `comptoir wholesaler-sim` command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import requests

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
    command = [sys.executable, "-c", "from app import cli; cli()", "wholesaler-sim", "arvato",
               "--port", "0"]
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          cwd=Path(__file__).resolve().parents[2], text=True) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert "listening on http://127.0.0.1:" in line, (line, process.stderr)
            url = line.split("listening on ")[1].split()[0]
            settings = {"ARVATO_URL": url, "ARVATO_USERNAME": "cli-user",
                        "ARVATO_PASSWORD": "cli-password", "WHOLESALER_TIMEOUT": 2.0}
            with get_wholesaler("arvato", settings) as arvato:
                order = arvato.place_order(SupplierOrderRequest("CPT-CLI-1", "AR-OFF-HOME-24", 1))
            assert len(order.items) == 1
            assert requests.get(url + "/_sim/state", timeout=2).json()["purchases"] == 1
        finally:
            process.send_signal(signal.SIGINT)
            process.communicate(timeout=10)
