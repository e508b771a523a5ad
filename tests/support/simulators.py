"""Watching the in-process wholesaler simulators, so tests wait for what they do, not for time."""

from __future__ import annotations

from fulfilment.simulators import SimulatorHandle
from support.processes import Changes, announce_calls

# Where a simulator's state changes: each API request, each delivery falling due, each callback.
STEPS = ("handle", "complete_if_due", "send_callback")


def simulator_changes(handle: SimulatorHandle) -> Changes:
    """Return the Changes announced after each step of the handle's simulator.

    The first call installs the announcements: make it as the simulator starts (the fixtures
    that start simulators do), before any request it should see.
    """
    return announce_calls(handle.simulator, STEPS)
