"""A Nexway simulator: JSON API with an API key; delivery later, by signed callback and polling."""

from __future__ import annotations

import hashlib
import heapq
import hmac
import json
import re
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from http.client import HTTPConnection, HTTPSConnection
from typing import Any
from urllib.parse import urlsplit

from fulfilment.simulators.common import DEFAULT_CONFIG, Route, SimError, SimOrder, Simulator

REFERENCE_RE = re.compile(r"[A-Za-z0-9._:-]{1,64}")
REF = r"/v1/orders/([^/]+)"

NEXWAY_DEFAULTS: dict[str, Any] = DEFAULT_CONFIG | {
    "delivery_delay_ms": 500,  # from acceptance to delivery (keys issued, callback sent)
    "fail_delivery_next_n": 0,  # the next n accepted orders end as failed instead
    "callback_attempts": 3,  # tries per callback until one gets a 2xx
    "callback_retry_ms": 500,
}


class NexwaySimulator(Simulator):
    """Behave like Nexway: 202 on order, keys later by callback signed with HMAC-SHA256."""

    name = "nexway"
    sku_pattern = re.compile(r"NX-[A-Z0-9][A-Z0-9-]{0,58}")
    order_prefix = "NXO"
    content_type = "application/json"
    defaults = NEXWAY_DEFAULTS

    def __init__(self, *, api_key: str, callback_secret: str):
        self.api_key = api_key
        self.callback_secret = callback_secret
        self.schedule_lock = threading.Condition()
        self.queue: list[tuple[float, int, str]] = []
        self.sequence = 0
        self.due: dict[str, float] = {}
        super().__init__()
        self.worker = threading.Thread(target=self.run_deliveries, name="nexway-sim-delivery")

    def start(self) -> None:
        """Start the delivery worker."""
        self.worker.start()

    def stop(self) -> None:
        """Stop the delivery worker and wake held answers."""
        super().stop()
        with self.schedule_lock:
            self.schedule_lock.notify_all()
        if self.worker.is_alive():
            self.worker.join()

    def reset(self) -> None:
        """Forget everything, pending deliveries included."""
        with self.schedule_lock:
            self.queue.clear()
            self.due.clear()
        super().reset()

    def routes(self) -> list[Route]:
        """Return the Nexway API routes."""
        return [
            Route("GET", re.compile(r"/v1/stock/([^/]+)"), "stock", self.stock),
            Route("POST", re.compile(r"/v1/orders"), "create_order", self.create_order),
            Route("GET", re.compile(REF), "get_order", self.get_order),
            Route("POST", re.compile(REF + "/cancel"), "cancel", self.cancel_order),
            Route("POST", re.compile(REF + "/replacements"), "replace", self.replace_key),
            Route("POST", re.compile(REF + "/extend"), "extend", self.extend),
        ]

    def authenticate(self, headers: Mapping[str, str]) -> bool:
        """Check the X-Api-Key header in constant time."""
        given = headers.get("x-api-key", "")
        return hmac.compare_digest(given.encode(), self.api_key.encode())

    def render(self, kind: str, payload: dict[str, Any]) -> bytes:
        """Serialise as JSON."""
        return json.dumps(payload).encode()

    # -- API actions ----------------------------------------------------------------------------

    def stock(self, sku: str, *, body: bytes) -> tuple[int, str, dict[str, Any]]:
        """GET /v1/stock/{sku}."""
        return 200, "stock", self.stock_payload(sku)

    def create_order(self, *, body: bytes) -> tuple[int, str, dict[str, Any]]:
        """POST /v1/orders: 202 for a new purchase, 200 and the same order for a known reference."""
        data = _json_object(body)
        reference, sku, quantity = data.get("reference"), data.get("sku"), data.get("quantity")
        callback_url = data.get("callback_url")
        if not isinstance(reference, str) or not REFERENCE_RE.fullmatch(reference):
            raise SimError(422, "invalid_request", "reference: 1 to 64 of A-Z a-z 0-9 . _ : -")
        if not isinstance(sku, str):
            raise SimError(422, "invalid_request", "sku: a string")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= 100:
            raise SimError(422, "invalid_request", "quantity: an integer from 1 to 100")
        if callback_url is not None and (not isinstance(callback_url, str)
                                         or urlsplit(callback_url).scheme not in ("http", "https")):
            raise SimError(422, "invalid_request", "callback_url: an http(s) URL or null")
        with self.lock:
            order, new = self.create(reference, sku, quantity, callback_url)
            if new:
                self.schedule(order)
            else:
                self.complete_if_due(order)
            return (202 if new else 200), "order", self.present_order(order)

    def get_order(self, reference: str, *, body: bytes) -> tuple[int, str, dict[str, Any]]:
        """GET /v1/orders/{reference}: the order as it stands (delivered once it is due)."""
        with self.lock:
            order = self.find(reference)
            self.complete_if_due(order)
            return 200, "order", self.present_order(order)

    def cancel_order(self, reference: str, *, body: bytes) -> tuple[int, str, dict[str, Any]]:
        """POST /v1/orders/{reference}/cancel."""
        with self.lock:
            return 200, "order", self.present_order(self.cancel(reference))

    def replace_key(self, reference: str, *, body: bytes) -> tuple[int, str, dict[str, Any]]:
        """POST /v1/orders/{reference}/replacements with {"product_key": ...}."""
        key = _json_object(body).get("product_key")
        if not isinstance(key, str):
            raise SimError(422, "invalid_request", "product_key: a string")
        with self.lock:
            self.complete_if_due(self.find(reference))
            return 200, "order", self.present_order(self.replace(reference, key))

    def extend(self, reference: str, *, body: bytes) -> tuple[int, str, dict[str, Any]]:
        """POST /v1/orders/{reference}/extend: every link valid for another period from now."""
        with self.lock:
            order = self.find(reference)
            self.complete_if_due(order)
            if order.status != "delivered":
                raise SimError(409, "order_not_delivered", f"{reference} is {order.status}")
            for item in order.items:
                item["download_expires_at"] = datetime.now(UTC) + self.download_validity()
            return 200, "order", self.present_order(order)

    # -- delivery -------------------------------------------------------------------------------

    def schedule(self, order: SimOrder) -> None:
        """Plan the order's delivery after delivery_delay_ms."""
        due = time.monotonic() + self.config["delivery_delay_ms"] / 1000
        with self.schedule_lock:
            self.due[order.reference] = due
            self.sequence += 1
            heapq.heappush(self.queue, (due, self.sequence, order.reference))
            self.schedule_lock.notify()

    def complete_if_due(self, order: SimOrder) -> None:
        """Deliver (or fail) an accepted order whose time has come."""
        with self.lock:
            due = self.due.get(order.reference)
            if order.status != "accepted" or due is None or time.monotonic() < due:
                return
            if self.config["fail_delivery_next_n"] > 0:
                self.config["fail_delivery_next_n"] -= 1
                self.sold[order.sku] -= order.quantity
                order.status, order.error = "failed", "the publisher could not supply the keys"
            else:
                self.deliver(order)

    def run_deliveries(self) -> None:
        """Deliver orders as they fall due and post their callbacks."""
        while True:
            with self.schedule_lock:
                while not self.stopping.is_set() and (
                    not self.queue or self.queue[0][0] > time.monotonic()
                ):
                    wait = self.queue[0][0] - time.monotonic() if self.queue else None
                    self.schedule_lock.wait(wait)
                if self.stopping.is_set():
                    return
                _, _, reference = heapq.heappop(self.queue)
            with self.lock:
                order = self.orders.get(reference)
                if order is None:
                    continue
                self.complete_if_due(order)
                if not order.callback_url or order.status not in ("delivered", "failed"):
                    continue
                payload = self.present_order(order) | {"event": f"order.{order.status}"}
                if self.take("malformed_next_n", "callback"):
                    payload["items"] = [{**i, "product_key": "NOT-A-KEY"} for i in payload["items"]]
                    payload.pop("status", None)
            self.send_callback(order, json.dumps(payload).encode())

    def send_callback(self, order: SimOrder, body: bytes) -> None:
        """POST the signed callback, retrying a few times until it gets a 2xx."""
        assert order.callback_url is not None
        for attempt in range(1, int(self.config["callback_attempts"]) + 1):
            timestamp = int(time.time())
            mac = hmac.new(self.callback_secret.encode(), f"{timestamp}.".encode() + body,
                           hashlib.sha256).hexdigest()
            record: dict[str, Any] = {"attempt": attempt, "at": timestamp}
            try:
                record["status"] = _post(order.callback_url, body, {
                    "Content-Type": "application/json",
                    "Nexway-Signature": f"t={timestamp},v1={mac}",
                })
            except OSError as exc:
                record["error"] = type(exc).__name__
            with self.lock:
                order.callbacks.append(record)
            if 200 <= record.get("status", 0) < 300:
                return
            if self.stopping.wait(self.config["callback_retry_ms"] / 1000):
                return


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body or b"null")
    except ValueError as exc:
        raise SimError(400, "invalid_json", "the body is not JSON") from exc
    if not isinstance(data, dict):
        raise SimError(400, "invalid_json", "the body is not a JSON object")
    return data


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    parts = urlsplit(url)
    connection_class = HTTPSConnection if parts.scheme == "https" else HTTPConnection
    connection = connection_class(parts.hostname or "", parts.port, timeout=5)
    try:
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()
