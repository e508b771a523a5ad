"""Simulators on loopback, adapters pointed at them, and a callback receiver."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from support.processes import PATIENCE
from support.simulators import simulator_changes

from fulfilment.simulators import SimulatorHandle, start_simulator
from fulfilment.wholesalers import SupplierOrder, SupplierOrderStatus, get_wholesaler
from fulfilment.wholesalers.arvato import ArvatoAdapter
from fulfilment.wholesalers.nexway import NexwayAdapter

NEXWAY_SECRETS = {"api_key": "sim-nexway-key", "callback_secret": "sim-nexway-callback-secret"}
ARVATO_SECRETS = {"username": "comptoir", "password": "sim-arvato-password"}
ATTEMPTS = 4


def settings_for(nexway: SimulatorHandle | None = None,
                 arvato: SimulatorHandle | None = None, **extra: Any) -> dict[str, Any]:
    """Flask-style settings pointing at the simulators, with fast retries and short timeouts."""
    return {
        "NEXWAY_URL": nexway.url if nexway else "http://127.0.0.1:9",
        "NEXWAY_API_KEY": NEXWAY_SECRETS["api_key"],
        "NEXWAY_CALLBACK_SECRET": NEXWAY_SECRETS["callback_secret"],
        "ARVATO_URL": arvato.url if arvato else "http://127.0.0.1:9",
        "ARVATO_USERNAME": ARVATO_SECRETS["username"],
        "ARVATO_PASSWORD": ARVATO_SECRETS["password"],
        "WHOLESALER_TIMEOUT": 0.5,
        "WHOLESALER_CONNECT_TIMEOUT": 0.5,
        "WHOLESALER_RETRY_ATTEMPTS": ATTEMPTS,
        "WHOLESALER_RETRY_BASE": 0.01,
        "WHOLESALER_RETRY_CAP": 0.05,
    } | extra


@pytest.fixture
def nexway_sim() -> Iterator[SimulatorHandle]:
    with start_simulator("nexway", config={"delivery_delay_ms": 0}, **NEXWAY_SECRETS) as handle:
        simulator_changes(handle)
        yield handle


@pytest.fixture
def arvato_sim() -> Iterator[SimulatorHandle]:
    with start_simulator("arvato", **ARVATO_SECRETS) as handle:
        simulator_changes(handle)
        yield handle


@pytest.fixture
def nexway(nexway_sim: SimulatorHandle) -> Iterator[NexwayAdapter]:
    adapter = get_wholesaler("nexway", settings_for(nexway=nexway_sim))
    assert isinstance(adapter, NexwayAdapter)
    with adapter:
        yield adapter


@pytest.fixture
def arvato(arvato_sim: SimulatorHandle) -> Iterator[ArvatoAdapter]:
    adapter = get_wholesaler("arvato", settings_for(arvato=arvato_sim))
    assert isinstance(adapter, ArvatoAdapter)
    with adapter:
        yield adapter


@dataclass
class Pair:
    """One wholesaler under test: its adapter, its simulator and a SKU it sells."""

    code: str
    adapter: NexwayAdapter | ArvatoAdapter
    sim: SimulatorHandle
    sku: str

    def delivered(self, reference: str) -> SupplierOrder:
        """Wait until the simulator has delivered the order (at once for Arvato), then fetch it."""
        return wait_for_status(self.adapter, self.sim, reference, SupplierOrderStatus.DELIVERED)


@pytest.fixture(params=["nexway", "arvato"])
def pair(request: pytest.FixtureRequest) -> Pair:
    code = request.param
    return Pair(code, request.getfixturevalue(code), request.getfixturevalue(f"{code}_sim"),
                "NX-OFF-HOME-24" if code == "nexway" else "AR-OFF-HOME-24")


def wait_for_status(adapter: NexwayAdapter | ArvatoAdapter, sim: SimulatorHandle,
                    reference: str, status: SupplierOrderStatus) -> SupplierOrder:
    """Wait for the simulator to move the order to status, then fetch it through the adapter."""

    def reached() -> bool:
        return sim.state()["orders"].get(reference, {}).get("status") == status.value

    simulator_changes(sim).wait_until(reached, what=f"{reference} becoming {status}")
    order = adapter.fetch_order(reference)
    assert order is not None and order.status is status, order
    return order


@dataclass
class Received:
    body: bytes
    headers: dict[str, str]


class CallbackReceiver:
    """A loopback HTTP endpoint that records what is POSTed to it.

    It answers the statuses queued in `statuses` first, then 200.
    """

    def __init__(self) -> None:
        self.received: queue.Queue[Received] = queue.Queue()
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                receiver.received.put(Received(self.rfile.read(length), dict(self.headers.items())))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.block_on_close = True
        self.server.daemon_threads = False
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/nexway"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05})
        self.thread.start()

    def next(self, timeout: float = PATIENCE) -> Received:
        """Wait for the next callback and return it."""
        return self.received.get(timeout=timeout)

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    receiver = CallbackReceiver()
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture
def wholesaler_settings() -> Callable[..., dict[str, Any]]:
    """Return settings_for, for tests that build their own adapters."""
    return settings_for


@pytest.fixture
def attempts() -> int:
    """Return how many attempts the test adapters make."""
    return ATTEMPTS


@pytest.fixture
def reference_factory() -> Callable[[], str]:
    counter = iter(range(1, 1000))
    return lambda: f"CPT-TEST-{next(counter):04d}-L1"
