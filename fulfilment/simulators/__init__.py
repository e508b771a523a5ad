"""Wholesaler simulators: real HTTP servers on loopback that behave (and misbehave) like Nexway and
Arvato, for tests, demos and benchmarks."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

from fulfilment.simulators.arvato import ArvatoSimulator
from fulfilment.simulators.common import SimError, Simulator
from fulfilment.simulators.nexway import NexwaySimulator
from fulfilment.simulators.server import SimulatorServer

SIMULATORS: dict[str, type[NexwaySimulator] | type[ArvatoSimulator]] = {
    "nexway": NexwaySimulator,
    "arvato": ArvatoSimulator,
}

__all__ = ["SIMULATORS", "ArvatoSimulator", "NexwaySimulator", "SimulatorHandle",
           "build_simulator", "simulator_credentials", "start_simulator"]


def simulator_credentials(name: str, config: Mapping[str, Any]) -> dict[str, str]:
    """Read a simulator's credentials from Flask-style settings, the ones the adapters use."""
    if name == "nexway":
        return {"api_key": config["NEXWAY_API_KEY"],
                "callback_secret": config["NEXWAY_CALLBACK_SECRET"]}
    if name == "arvato":
        return {"username": config["ARVATO_USERNAME"], "password": config["ARVATO_PASSWORD"]}
    raise ValueError(f"no simulator called {name!r}")


def build_simulator(name: str, **credentials: str) -> Simulator:
    """Create a simulator (not yet serving) with its credentials."""
    if name not in SIMULATORS:
        raise ValueError(f"no simulator called {name!r}")
    simulator: Simulator = SIMULATORS[name](**credentials)
    return simulator


class SimulatorHandle:
    """A simulator serving on loopback from a background thread; stop() shuts it down cleanly."""

    def __init__(self, simulator: Simulator, server: SimulatorServer):
        self.simulator = simulator
        self.server = server
        host, port = server.server_address[:2]
        self.url = f"http://{host!s}:{port}"
        simulator.base_url = self.url
        self.thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                       name=f"{simulator.name}-sim")

    @property
    def name(self) -> str:
        """Return the simulator's name (nexway or arvato)."""
        return self.simulator.name

    def start(self) -> Self:
        """Serve in the background."""
        self.simulator.start()
        self.thread.start()
        return self

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change settings and misbehaviour, as POST /_sim/config does."""
        try:
            return self.simulator.configure(changes)
        except SimError as exc:
            raise ValueError(exc.message) from exc

    def state(self) -> dict[str, Any]:
        """Return what GET /_sim/state returns, as plain JSON types."""
        result: dict[str, Any] = json.loads(json.dumps(self.simulator.state(), default=str))
        return result

    def reset(self) -> None:
        """Forget orders and faults, as POST /_sim/reset does."""
        self.simulator.reset()

    def stop(self) -> None:
        """Stop serving, wake held answers, and join every thread."""
        self.simulator.stop()
        if self.thread.is_alive():
            self.server.shutdown()
            self.thread.join()
        self.server.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def start_simulator(name: str, *, host: str = "127.0.0.1", port: int = 0,
                    config: Mapping[str, Any] | None = None, **credentials: str) -> SimulatorHandle:
    """Start a simulator on loopback (port 0: any free port) and return its handle."""
    if host not in ("127.0.0.1", "localhost"):
        raise ValueError("the simulators bind to loopback only")
    simulator = build_simulator(name, **credentials)
    if config:
        simulator.configure(config)
    server = SimulatorServer((host, port), simulator)
    return SimulatorHandle(simulator, server).start()
