"""A circuit breaker per wholesaler, shared by every worker when Redis holds it.

Closed: calls go through; consecutive temporary failures (5xx, timeouts, refused connections,
malformed answers) are counted, and WHOLESALER_BREAKER_THRESHOLD of them open the circuit.
Open: no call is made for WHOLESALER_BREAKER_COOLDOWN seconds; fulfilment fails lines over to
the other wholesaler where the partner allows it, and schedules the others for when the circuit
may close (no worker waits). After the cooldown one worker takes the probe (half-open): its
success closes the circuit, its failure opens it for another cooldown.

The state lives in Redis (BREAKER_REDIS_URL, else SESSION_REDIS_URL) so that all workers see one
circuit per wholesaler; without Redis (the embedded demo) each process keeps its own.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

from flask import Flask, current_app

CLOSED, OPEN = "closed", "open"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    probe: bool = False  # this call is the half-open probe
    retry_at: float = 0.0  # Unix time when a blocked call may be tried again


class _Store(Protocol):
    def read(self, code: str) -> tuple[str, int, float]: ...
    def take_probe(self, code: str, ttl: float) -> bool: ...
    def record_failure(self, code: str) -> int: ...
    def open(self, code: str, retry_at: float) -> None: ...
    def close(self, code: str) -> None: ...


class MemoryStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: dict[str, dict[str, Any]] = {}
        self._probes: dict[str, float] = {}

    def read(self, code: str) -> tuple[str, int, float]:
        s = self._state.get(code) or {}
        return s.get("state", CLOSED), int(s.get("failures", 0)), float(s.get("retry_at", 0.0))

    def take_probe(self, code: str, ttl: float) -> bool:
        with self._lock:
            if self._probes.get(code, 0.0) > time.time():
                return False
            self._probes[code] = time.time() + ttl
            return True

    def record_failure(self, code: str) -> int:
        with self._lock:
            s = self._state.setdefault(code, {})
            s["failures"] = int(s.get("failures", 0)) + 1
            return int(s["failures"])

    def open(self, code: str, retry_at: float) -> None:
        with self._lock:
            self._state.setdefault(code, {}).update(state=OPEN, retry_at=retry_at)
            self._probes.pop(code, None)

    def close(self, code: str) -> None:
        with self._lock:
            self._state.pop(code, None)
            self._probes.pop(code, None)


class RedisStore:
    def __init__(self, url: str, prefix: str = "comptoir:breaker:") -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._prefix = prefix

    def _key(self, code: str) -> str:
        return self._prefix + code

    def read(self, code: str) -> tuple[str, int, float]:
        raw: dict[bytes, bytes] = self._redis.hgetall(self._key(code))  # type: ignore[assignment]
        state = (raw.get(b"state") or CLOSED.encode()).decode()
        return state, int(raw.get(b"failures") or 0), float(raw.get(b"retry_at") or 0)

    def take_probe(self, code: str, ttl: float) -> bool:
        return bool(self._redis.set(self._key(code) + ":probe", "1", nx=True,
                                    px=max(1, int(ttl * 1000))))

    def record_failure(self, code: str) -> int:
        return int(self._redis.hincrby(self._key(code), "failures", 1))

    def open(self, code: str, retry_at: float) -> None:
        pipe = self._redis.pipeline()
        pipe.hset(self._key(code), mapping={"state": OPEN, "retry_at": retry_at})
        pipe.delete(self._key(code) + ":probe")
        pipe.execute()

    def close(self, code: str) -> None:
        self._redis.delete(self._key(code), self._key(code) + ":probe")


class Breaker:
    def __init__(self, store: _Store, threshold: int, cooldown: float, probe_ttl: float):
        self.store, self.threshold, self.cooldown, self.probe_ttl = (
            store, threshold, cooldown, probe_ttl)

    def before_call(self, code: str) -> Decision:
        state, _failures, retry_at = self.store.read(code)
        if state != OPEN:
            return Decision(True)
        now = time.time()
        if now < retry_at:
            return Decision(False, retry_at=retry_at)
        if self.store.take_probe(code, self.probe_ttl):
            return Decision(True, probe=True)
        return Decision(False, retry_at=now + min(self.probe_ttl, self.cooldown))

    def succeeded(self, code: str, decision: Decision) -> None:
        state, failures, _ = self.store.read(code) if not decision.probe else (OPEN, 1, 0.0)
        if decision.probe or state == OPEN or failures:
            self.store.close(code)

    def failed(self, code: str, decision: Decision) -> float:
        """Count a temporary failure; return when the circuit may be tried again if it opened."""
        failures = self.store.record_failure(code)
        if decision.probe or failures >= self.threshold:
            retry_at = time.time() + self.cooldown
            self.store.open(code, retry_at)
            return retry_at
        return 0.0

    def state(self, code: str) -> str:
        state, _, retry_at = self.store.read(code)
        if state == OPEN and time.time() >= retry_at:
            return "half_open"
        return state


def breaker(app: Flask | None = None) -> Breaker:
    """This app's breaker (built once from its settings)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    found = app.extensions.get("comptoir.breaker")
    if found is None:
        cfg = app.config
        url = cfg.get("BREAKER_REDIS_URL") or (
            cfg.get("SESSION_REDIS_URL") if cfg.get("SESSION_STORE") == "redis" else None)
        store: _Store = RedisStore(url) if url else MemoryStore()
        found = Breaker(store, threshold=int(cfg.get("WHOLESALER_BREAKER_THRESHOLD", 5)),
                        cooldown=float(cfg.get("WHOLESALER_BREAKER_COOLDOWN", 30.0)),
                        probe_ttl=float(cfg.get("WHOLESALER_TIMEOUT", 10.0)) + 5.0)
        app.extensions["comptoir.breaker"] = found
    return found
