"""What both wholesaler simulators share: catalogue, orders, keys, faults and the HTTP loop."""

from __future__ import annotations

import calendar
import json
import logging
import re
import secrets
import threading
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

KEY_ALPHABET = "BCDFGHJKMPQRTVWXY2346789"
MAX_BODY = 64 * 1024
API_OPERATIONS = ("stock", "create_order", "get_order", "cancel", "replace", "extend",
                  "get_subscription", "renew_subscription", "change_subscription",
                  "cancel_subscription")
# A Microsoft 365 SKU is a subscription; its term in months is a trailing -<n> (12 without one):
# the demo's NX-M365-PERS-12 and AR-M365-FAM-12 run twelve months.
SUBSCRIPTION_SKU_RE = re.compile(r"(?:NX-|AR-)?M365-[A-Z0-9-]*")
TERM_SUFFIX_RE = re.compile(r".*-(\d{1,2})")
SUBSCRIPTION_CONTROL_RE = re.compile(r"/_sim/subscriptions/([^/]+)/(renew|expire)")
MALFORMED_MODES = ("auto", "bad_key", "missing_field", "wrong_quantity", "garbage")

DEFAULT_CONFIG: dict[str, Any] = {
    "latency_ms": 0,  # added before every API answer
    "fail_next_n": 0,  # the next n API requests answer fail_status without doing anything
    "fail_status": 503,
    "timeout_next_n": 0,  # the next n API requests are done, then answered after timeout_ms
    "timeout_ms": 30_000,
    "malformed_next_n": 0,  # the next n successful answers are mangled (malformed_mode)
    "malformed_mode": "auto",
    "fault_scope": [],  # operations the three counters above apply to; empty: every API operation
    "default_stock": 1000,  # units of any sold SKU not listed in stock
    "stock": {},  # SKU -> units left
    "out_of_stock": [],  # SKUs with no stock at all
    "unknown_skus": [],  # SKUs answered as unknown although they match the pattern
    "already_activated": [],  # keys known as activated elsewhere
    "already_activated_next_n": 0,  # the next n keys issued are already activated elsewhere
    "repeat_key_next_n": 0,  # the next n keys issued repeat the one before (a wholesaler's bug)
    "replacement_policy": "any",  # any | activated_only
    "download_validity_days": 21,
    "subscription_skus": {},  # SKU -> term in months: subscriptions besides the M365- SKUs
}


class SimError(Exception):
    """An error answer: HTTP status, machine code and message."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str
    hold_seconds: float = 0.0  # answer this late (a timeout seen by the client)


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    operation: str
    action: Callable[..., tuple[int, str, dict[str, Any]]]


@dataclass
class SimOrder:
    reference: str
    order_id: str
    sku: str
    quantity: int
    callback_url: str | None
    status: str = "accepted"
    items: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    replacements: dict[str, str] = field(default_factory=dict)
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    subscription_id: str | None = None


@dataclass
class SimSubscription:
    """A subscription opened by buying a subscription SKU: its seats, its term, its renewals."""

    subscription_id: str
    reference: str  # the order that opened it
    sku: str
    seats: int
    term_months: int
    paid_until: datetime
    status: str = "active"  # active (renews), cancelled (runs to paid_until), ended
    generation: int = 0  # terms provisioned after the first
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    renewals: dict[str, dict[str, Any]] = field(default_factory=dict)  # our reference -> request
    changes: dict[str, int] = field(default_factory=dict)  # our reference -> seats
    events: list[str] = field(default_factory=list)


def add_months(start: datetime, months: int) -> datetime:
    """The same day and time `months` later, clamped to the month's last day."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return start.replace(year=year, month=month,
                         day=min(start.day, calendar.monthrange(year, month)[1]))


def isoformat(moment: datetime) -> str:
    """Format a UTC datetime as ISO 8601 with a Z."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class Simulator(ABC):
    """A wholesaler's catalogue, orders and faults; the subclasses speak its protocol."""

    name = ""
    sku_pattern = re.compile(r"^$")
    order_prefix = ""
    content_type = ""
    auto_renews = False  # whether a subscription renews by itself at the end of its term
    defaults: Mapping[str, Any] = DEFAULT_CONFIG

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.stopping = threading.Event()
        self.base_url = ""
        self.log = logging.getLogger(f"comptoir.simulators.{self.name}")
        self.reset()

    # -- control ------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every order, count and fault; back to the default settings."""
        with self.lock:
            self.config: dict[str, Any] = json.loads(json.dumps(self.defaults))
            self.orders: dict[str, SimOrder] = {}
            self.sold: Counter[str] = Counter()
            self.requests: Counter[str] = Counter()
            self.purchases = 0
            self.activated: set[str] = set()
            self.issued: set[str] = set()
            self.last_key: str | None = None
            self.downloads: dict[str, str] = {}
            self.subscriptions: dict[str, SimSubscription] = {}
            self.terms_provisioned = 0  # renewals carried out, automatic or asked for

    def configure(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Merge settings after checking each name and type; return the whole configuration."""
        with self.lock:
            for name, value in changes.items():
                if name not in self.config:
                    raise SimError(400, "unknown_setting", f"no setting called {name!r}")
                default = self.config[name]
                if isinstance(default, bool) != isinstance(value, bool) or not isinstance(
                    value, type(default) if not isinstance(default, float) else (int, float)
                ):
                    raise SimError(400, "bad_setting", f"{name} must be {type(default).__name__}")
            terms = changes.get("subscription_skus", {})
            if not all(isinstance(m, int) and not isinstance(m, bool) and 0 <= m <= 36
                       for m in terms.values()):
                raise SimError(400, "bad_setting", "subscription_skus: SKU -> months, 0 to 36")
            if changes.get("malformed_mode", "auto") not in MALFORMED_MODES:
                raise SimError(400, "bad_setting", f"malformed_mode is one of {MALFORMED_MODES}")
            self.config.update(json.loads(json.dumps(dict(changes))))
            self.activated.update(self.config["already_activated"])
            return dict(self.config)

    def state(self) -> dict[str, Any]:
        """Return orders, purchase and request counts, activated keys and settings."""
        with self.lock:
            return {
                "simulator": self.name,
                "purchases": self.purchases,
                "sold": dict(self.sold),
                "requests": dict(self.requests),
                "orders": {ref: self.present_order(o) | {"replacements": dict(o.replacements),
                                                         "callback_url": o.callback_url,
                                                         "callbacks": list(o.callbacks)}
                           for ref, o in self.orders.items()},
                "activated_keys": sorted(self.activated),
                "subscriptions": {sid: self.present_subscription(sub) | {
                    "reference": sub.reference, "sku": sub.sku, "term_months": sub.term_months,
                    "renewals": dict(sub.renewals), "changes": dict(sub.changes),
                    "events": list(sub.events)} for sid, sub in self.subscriptions.items()},
                "terms_provisioned": self.terms_provisioned,
                "config": dict(self.config),
            }

    def start(self) -> None:  # noqa: B027 - a hook: only Nexway has background work to start
        """Start background work, if the protocol has any."""

    def stop(self) -> None:
        """Wake every held answer and background work so the server can close."""
        self.stopping.set()

    # -- the protocol, per subclass -------------------------------------------------------------

    @abstractmethod
    def routes(self) -> list[Route]:
        """Return the API routes."""
        ...

    @abstractmethod
    def authenticate(self, headers: Mapping[str, str]) -> bool:
        """Say whether the request carries the right credentials (header names in lower case)."""
        ...

    @abstractmethod
    def render(self, kind: str, payload: dict[str, Any]) -> bytes:
        """Serialise a neutral payload (kind: order, stock, error) in the wire format."""
        ...

    def download_validity(self) -> timedelta:
        """Return how long a download link stays valid."""
        return timedelta(days=int(self.config["download_validity_days"]))

    # -- catalogue and orders -------------------------------------------------------------------

    def check_sku(self, sku: str) -> None:
        """Raise unknown_sku unless the simulator sells sku."""
        if not self.sku_pattern.fullmatch(sku) or sku in self.config["unknown_skus"]:
            raise SimError(404, "unknown_sku", f"{sku} is not in the catalogue")

    def stock_left(self, sku: str) -> int:
        """Return the units of sku that can still be sold."""
        if sku in self.config["out_of_stock"]:
            return 0
        initial = int(self.config["stock"].get(sku, self.config["default_stock"]))
        return max(0, initial - self.sold[sku])

    def stock_payload(self, sku: str) -> dict[str, Any]:
        """Return the neutral stock answer for sku."""
        with self.lock:
            self.check_sku(sku)
            left = self.stock_left(sku)
            return {"sku": sku, "available": left > 0, "quantity": left}

    def create(self, reference: str, sku: str, quantity: int,
               callback_url: str | None) -> tuple[SimOrder, bool]:
        """Buy under reference, once: return the order and whether it is new."""
        with self.lock:
            existing = self.orders.get(reference)
            if existing is not None:
                if (existing.sku, existing.quantity) != (sku, quantity):
                    raise SimError(409, "reference_conflict",
                                   f"{reference} was used for another order")
                return existing, False
            self.check_sku(sku)
            if self.stock_left(sku) < quantity:
                raise SimError(409, "out_of_stock", f"not enough {sku} in stock")
            self.sold[sku] += quantity
            self.purchases += 1
            order = SimOrder(reference=reference, sku=sku, quantity=quantity,
                             callback_url=callback_url, order_id=self.new_order_id())
            self.orders[reference] = order
            self.open_subscription(order)
            return order, True

    def new_order_id(self) -> str:
        """Return the wholesaler's number for a new order."""
        return f"{self.order_prefix}-{secrets.token_hex(6).upper()}"

    def find(self, reference: str) -> SimOrder:
        """Return the order bought under reference or raise order_not_found."""
        order = self.orders.get(reference)
        if order is None:
            raise SimError(404, "order_not_found", f"no order {reference}")
        return order

    def deliver(self, order: SimOrder) -> None:
        """Issue one key and download link per unit (once)."""
        with self.lock:
            if order.status != "accepted":
                return
            order.items = [self.new_item(order) for _ in range(order.quantity)]
            order.status = "delivered"

    def new_item(self, order: SimOrder) -> dict[str, Any]:
        """Issue a fresh unique key with its download link."""
        key = self.new_key()
        token = secrets.token_urlsafe(16)
        self.downloads[token] = order.reference
        return {"product_key": key, "download_url": f"{self.base_url}/downloads/{token}",
                "download_expires_at": datetime.now(UTC) + self.download_validity()}

    def new_key(self) -> str:
        """Return a random 5x5 key never issued before; maybe one activated elsewhere already."""
        if self.config["repeat_key_next_n"] > 0 and self.last_key is not None:
            self.config["repeat_key_next_n"] -= 1
            return self.last_key
        while True:
            key = "-".join("".join(secrets.choice(KEY_ALPHABET) for _ in range(5))
                           for _ in range(5))
            if key not in self.issued:
                break
        self.issued.add(key)
        self.last_key = key
        if self.config["already_activated_next_n"] > 0:
            self.config["already_activated_next_n"] -= 1
            self.activated.add(key)
        return key

    def cancel(self, reference: str) -> SimOrder:
        """Cancel an order; stock comes back for an order not yet delivered. The subscription
        it opened is revoked at once (Nexway: cancelling a subscription's order ends it now)."""
        with self.lock:
            order = self.find(reference)
            if order.status == "accepted":
                self.sold[order.sku] -= order.quantity
            if order.status in ("accepted", "delivered"):
                order.status = "cancelled"
            sub = self.subscriptions.get(order.subscription_id or "")
            if sub is not None and sub.status != "ended":
                now = datetime.now(UTC)
                sub.status, sub.paid_until = "ended", min(sub.paid_until, now)
                sub.events.append(f"{isoformat(now)} revoked: its order was cancelled")
            return order

    # -- subscriptions ----------------------------------------------------------------------------

    def subscription_term(self, sku: str) -> int | None:
        """Return the term in months when sku is a subscription, None for a perpetual licence."""
        listed = self.config["subscription_skus"].get(sku)
        if listed is not None:
            return int(listed) or None
        if not SUBSCRIPTION_SKU_RE.fullmatch(sku):
            return None
        suffix = TERM_SUFFIX_RE.fullmatch(sku)
        months = int(suffix.group(1)) if suffix else 12
        return months if 1 <= months <= 36 else 12

    def new_subscription_id(self) -> str:
        """Return the wholesaler's id for a new subscription."""
        return f"{self.order_prefix}S-{secrets.token_hex(6).upper()}"

    def open_subscription(self, order: SimOrder) -> None:
        """Open the subscription a new order of a subscription SKU buys: one per order, as many
        seats as units, its first term starting with the order."""
        months = self.subscription_term(order.sku)
        if months is None:
            return
        sub = SimSubscription(subscription_id=self.new_subscription_id(),
                              reference=order.reference, sku=order.sku, seats=order.quantity,
                              term_months=months, paid_until=add_months(order.created_at, months))
        sub.events.append(f"{isoformat(order.created_at)} opened: {sub.seats} seats "
                          f"until {isoformat(sub.paid_until)}")
        self.subscriptions[sub.subscription_id] = sub
        order.subscription_id = sub.subscription_id

    def find_subscription(self, subscription_id: str) -> SimSubscription:
        """Return the subscription as it stands now, or raise subscription_not_found."""
        with self.lock:
            sub = self.subscriptions.get(subscription_id)
            if sub is None:
                raise SimError(404, "subscription_not_found", f"no subscription {subscription_id}")
            self.advance(sub)
            return sub

    def advance(self, sub: SimSubscription) -> None:
        """Let the paid term run out: an active subscription then renews where the wholesaler
        renews by itself (Nexway, term after term), else it ends; a cancelled one ends."""
        now = datetime.now(UTC)
        while sub.status != "ended" and sub.paid_until <= now:
            if sub.status == "active" and self.auto_renews:
                self.provision(sub, add_months(sub.paid_until, sub.term_months),
                               "renewed at expiry")
            else:
                sub.status = "ended"
                sub.events.append(f"{isoformat(now)} ended at {isoformat(sub.paid_until)}")

    def provision(self, sub: SimSubscription, until: datetime, why: str) -> None:
        """Provision one more term, to until."""
        sub.generation += 1
        sub.paid_until = until
        self.terms_provisioned += 1
        sub.events.append(f"{isoformat(datetime.now(UTC))} {why}: generation {sub.generation}, "
                          f"{sub.seats} seats until {isoformat(until)}")

    def renew_subscription_now(self, subscription_id: str) -> SimSubscription:
        """Control: the renewal the wholesaler runs at the anniversary, carried out now."""
        with self.lock:
            sub = self.find_subscription(subscription_id)
            if sub.status != "active":
                raise SimError(409, f"subscription_{sub.status}", f"{subscription_id} is "
                               f"{sub.status}: it does not renew")
            self.provision(sub, add_months(sub.paid_until, sub.term_months),
                           "renewed at its anniversary")
            return sub

    def end_term_now(self, subscription_id: str) -> SimSubscription:
        """Control: the paid term runs out now (what follows is advance's)."""
        with self.lock:
            sub = self.subscriptions.get(subscription_id)
            if sub is None:
                raise SimError(404, "subscription_not_found", f"no subscription {subscription_id}")
            if sub.status != "ended":
                sub.paid_until = min(sub.paid_until, datetime.now(UTC))
            return self.find_subscription(subscription_id)

    def renew(self, subscription_id: str, reference: str, seats: int,
              until: datetime) -> tuple[SimSubscription, bool]:
        """Provision a term to until for seats users, once per reference: return the
        subscription and whether this request provisioned it."""
        with self.lock:
            sub = self.find_subscription(subscription_id)
            asked = {"seats": seats, "until": isoformat(until)}
            if self.done_before(sub, sub.renewals, reference, asked, "renewed"):
                return sub, False
            if until <= sub.paid_until:
                raise SimError(409, "already_provisioned",
                               f"{subscription_id} is paid until {isoformat(sub.paid_until)}")
            sub.renewals[reference] = asked
            sub.seats = seats
            self.provision(sub, until, f"renewed under {reference}")
            return sub, True

    def change_seats(self, subscription_id: str, reference: str,
                     seats: int) -> tuple[SimSubscription, bool]:
        """Set the number of users for the rest of the term, once per reference."""
        with self.lock:
            sub = self.find_subscription(subscription_id)
            if self.done_before(sub, sub.changes, reference, seats, "changed"):
                return sub, False
            sub.changes[reference] = seats
            sub.events.append(f"{isoformat(datetime.now(UTC))} {sub.seats} -> {seats} seats "
                              f"under {reference}")
            sub.seats = seats
            return sub, True

    @staticmethod
    def done_before(sub: SimSubscription, done: Mapping[str, Any], reference: str, asked: Any,
                    what: str) -> bool:
        """True when reference asked this very thing before; a 409 when it asked another, or
        when the subscription no longer takes it (cancelled or ended)."""
        if reference in done:
            if done[reference] != asked:
                raise SimError(409, "reference_conflict",
                               f"{reference} {what} {sub.subscription_id} otherwise")
            return True
        if sub.status != "active":
            raise SimError(409, f"subscription_{sub.status}",
                           f"{sub.subscription_id} is {sub.status}: it cannot be {what}")
        return False

    def stop_renewal(self, subscription_id: str) -> tuple[SimSubscription, bool]:
        """Cancel the subscription: no renewal, the licence runs to the end of the paid term.
        Return it and whether this request cancelled it."""
        with self.lock:
            sub = self.find_subscription(subscription_id)
            if sub.status != "active":
                return sub, False
            sub.status = "cancelled"
            sub.events.append(f"{isoformat(datetime.now(UTC))} cancelled: runs until "
                              f"{isoformat(sub.paid_until)}")
            return sub, True

    def present_subscription(self, sub: SimSubscription) -> dict[str, Any]:
        """Return the neutral view of a subscription (times as ISO 8601 strings)."""
        return {"subscription_id": sub.subscription_id, "status": sub.status, "seats": sub.seats,
                "paid_until": isoformat(sub.paid_until), "generation": sub.generation,
                "created_at": isoformat(sub.created_at)}

    def replace(self, reference: str, product_key: str) -> SimOrder:
        """Swap a key reported as already activated for a new one (once per reported key)."""
        with self.lock:
            order = self.find(reference)
            if product_key in order.replacements:
                return order
            if order.status != "delivered":
                raise SimError(409, "order_not_delivered", f"{reference} is {order.status}")
            index = next((i for i, item in enumerate(order.items)
                          if item["product_key"] == product_key), None)
            if index is None:
                raise SimError(404, "key_not_found", "this key is not in the order")
            if (self.config["replacement_policy"] == "activated_only"
                    and product_key not in self.activated):
                raise SimError(409, "key_not_activated", "this key has not been activated")
            order.items[index] = self.new_item(order)
            order.replacements[product_key] = order.items[index]["product_key"]
            return order

    def present_order(self, order: SimOrder) -> dict[str, Any]:
        """Return the neutral view of an order (times as ISO 8601 strings)."""
        return {
            "reference": order.reference, "order_id": order.order_id, "status": order.status,
            "sku": order.sku, "quantity": order.quantity, "error": order.error,
            "items": [{"product_key": i["product_key"], "download_url": i["download_url"],
                       "download_expires_at": isoformat(i["download_expires_at"])}
                      for i in order.items],
            "created_at": isoformat(order.created_at),
            "subscription_id": order.subscription_id,
        }

    # -- the request cycle ------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Reply:
        """Answer one HTTP request, with whatever misbehaviour is due."""
        path = urlsplit(target).path
        if path.startswith("/_sim/"):
            return self.control(method, path, body)
        if path.startswith("/downloads/"):
            return self.download(unquote(path.removeprefix("/downloads/")))
        route, params = self.match(method, path)
        if route is None:
            return self.error_reply(SimError(404, "not_found", f"no route {method} {path}"))
        op = route.operation
        with self.lock:
            self.requests[op] += 1
        self.stopping.wait(self.config["latency_ms"] / 1000)
        if not self.authenticate(headers):
            return self.error_reply(SimError(401, "unauthorized", "bad or missing credentials"))
        if self.take("fail_next_n", op):
            status = int(self.config["fail_status"])
            return self.error_reply(SimError(status, "unavailable", "try again later"))
        try:
            status, kind, payload = route.action(*params, body=body)
        except SimError as exc:
            return self.error_reply(exc)
        if self.take("malformed_next_n", op):
            reply = self.malformed(status, kind, payload)
        else:
            reply = Reply(status, self.render(kind, payload), self.content_type)
        if self.take("timeout_next_n", op):
            reply.hold_seconds = self.config["timeout_ms"] / 1000
        return reply

    def match(self, method: str, path: str) -> tuple[Route | None, tuple[str, ...]]:
        """Find the route for method and path, with its decoded path parameters."""
        for route in self.routes():
            found = route.pattern.fullmatch(path)
            if found and route.method == method:
                return route, tuple(unquote(g) for g in found.groups())
        return None, ()

    def take(self, counter: str, op: str) -> bool:
        """Use one unit of a fault counter if it is due and op is in the fault scope."""
        with self.lock:
            scope = self.config["fault_scope"]
            in_scope = op in scope if scope else op in API_OPERATIONS
            if in_scope and self.config[counter] > 0:
                self.config[counter] -= 1
                self.log.info("misbehaving on %s: %s", op, counter)
                return True
            return False

    def malformed(self, status: int, kind: str, payload: dict[str, Any]) -> Reply:
        """Mangle a good answer the way malformed_mode says."""
        mode = self.config["malformed_mode"]
        mangled = json.loads(json.dumps(payload))
        if mode == "auto":
            mode = "bad_key" if mangled.get("items") else "garbage"
        if mode == "bad_key" and mangled.get("items"):
            mangled["items"][0]["product_key"] = "AAAAA-EEEEE-IIIII-OOOOO-UUUUU"
        elif mode == "missing_field":
            mangled.pop("status" if kind in ("order", "subscription") else "quantity", None)
        elif mode == "wrong_quantity":
            count = "seats" if kind == "subscription" else "quantity"
            mangled[count] = int(mangled.get(count, 0)) + 1
        else:
            body = self.render(kind, payload)
            return Reply(status, body[: len(body) // 2], self.content_type)
        return Reply(status, self.render(kind, mangled), self.content_type)

    def error_reply(self, error: SimError) -> Reply:
        """Render an error answer."""
        payload = {"error": {"code": error.code, "message": error.message}}
        return Reply(error.status, self.render("error", payload), self.content_type)

    def download(self, token: str) -> Reply:
        """Serve a stand-in for the installer while the link is valid."""
        with self.lock:
            order = self.orders.get(self.downloads.get(token, ""))
            items = order.items if order is not None else []
            item = next((i for i in items if i["download_url"].endswith("/" + token)), None)
            if order is None or item is None:
                return Reply(404, b"unknown download\n", "text/plain")
            if item["download_expires_at"] < datetime.now(UTC):
                return Reply(410, b"download link expired\n", "text/plain")
            return Reply(200, f"{self.name} simulator installer for {order.sku}\n".encode(),
                         "application/octet-stream")

    def control(self, method: str, path: str, body: bytes) -> Reply:
        """Answer the /_sim/ endpoints: config, state, reset, and a subscription's term falling
        due now (renew, expire) (JSON, no credentials)."""
        try:
            if (method, path) == ("GET", "/_sim/config"):
                result: dict[str, Any] = dict(self.config)
            elif (method, path) == ("POST", "/_sim/config"):
                changes = json.loads(body or b"{}")
                if not isinstance(changes, dict):
                    raise SimError(400, "bad_request", "send a JSON object")
                result = self.configure(changes)
            elif (method, path) == ("GET", "/_sim/state"):
                result = self.state()
            elif (method, path) == ("POST", "/_sim/reset"):
                self.reset()
                result = {"reset": True}
            elif method == "POST" and (due := SUBSCRIPTION_CONTROL_RE.fullmatch(path)):
                subscription_id, what = unquote(due.group(1)), due.group(2)
                if what == "renew" and not self.auto_renews:
                    raise SimError(404, "not_found", f"{self.name} renews only when asked")
                sub = (self.renew_subscription_now(subscription_id) if what == "renew"
                       else self.end_term_now(subscription_id))
                result = self.present_subscription(sub)
            else:
                raise SimError(404, "not_found", f"no control endpoint {method} {path}")
        except SimError as exc:
            result, status = {"error": {"code": exc.code, "message": exc.message}}, exc.status
        except ValueError:
            result, status = {"error": {"code": "bad_request", "message": "not JSON"}}, 400
        else:
            status = 200
        return Reply(status, json.dumps(result, default=str).encode(), "application/json")
