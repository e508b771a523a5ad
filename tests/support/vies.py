"""The local VIES (commerce/vies_simulator.py) serving the whole run over HTTP on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from commerce.vies_simulator import ViesHandle, ViesSimulator


@pytest.fixture(scope="session")
def vies_server() -> Iterator[ViesHandle]:
    handle = ViesHandle()
    yield handle
    handle.stop()


@pytest.fixture
def vies(vies_server: ViesHandle) -> Iterator[ViesSimulator]:
    """The simulator with its misbehaviour and its log cleared before and after the test (tests
    that do not ask for it may still have checked numbers)."""
    simulator = vies_server.simulator
    _reset(simulator)
    yield simulator
    _reset(simulator)


def _reset(simulator: ViesSimulator) -> None:
    with simulator.lock:
        simulator.down.clear()
        simulator.unregistered.clear()
        simulator.checks.clear()
