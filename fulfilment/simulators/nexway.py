"""A Nexway Connect simulator: JSON with the `secret` header (and a JWT when configured); keys
come later, by signed notification and by polling.

It speaks the protocol fulfilment/wholesalers/nexway.py speaks; docs/wholesalers.md says which
parts Nexway documents and which are assumed. Errors are answered as Connect answers them, a
responseCode and a responseMessage; the HTTP statuses given to them here are assumed.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from http.client import HTTPConnection, HTTPSConnection
from typing import Any
from urllib.parse import urlsplit

from fulfilment.simulators.common import (
    DEFAULT_CONFIG,
    Reply,
    Route,
    SimError,
    SimOrder,
    SimSubscription,
    Simulator,
)

REFERENCE_RE = re.compile(r"[A-Za-z0-9._:-]{1,64}")
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
LANGUAGE_RE = re.compile(r"[a-z]{2}_[A-Z]{2}")
COUNTRY_RE = re.compile(r"[A-Z]{2}")
CURRENCY_RE = re.compile(r"[A-Z]{3}")
DURATION_RE = re.compile(r"P(?=\d)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?")
CANCEL_REASONS = frozenset({2, 3, 4, 5, 6, 16})  # the SOAP API's reasonCode values
KEY_PLACEHOLDER = "AAAAA-EEEEE-IIIII-OOOOO-UUUUU"  # outside the 5x5 alphabet

NEXWAY_DEFAULTS: dict[str, Any] = DEFAULT_CONFIG | {
    "delivery_delay_ms": 500,  # from acceptance to delivery (keys issued, notification sent)
    "fail_delivery_next_n": 0,  # the next n accepted orders end as failed instead
    "callback_attempts": 3,  # tries per notification until one gets a 2xx
    "callback_retry_ms": 500,
    "notify_before_answer": False,  # deliver and notify before answering the purchase
    "require_prices": False,  # refuse order lines without amountTotal or amountDutyFree (1053)
    "almost_out_of_stock_below": 10,  # stock status 200 below this many units, 100 from it
    "token_ttl_s": 300,  # expires_in of the JWTs /iam/tokens hands out
}

# Our neutral error codes (common.py) as Connect responseCodes: the SOAP Order API's numbers, and
# ours (9001-9003) for the replacement Connect does not have. Transport-level refusals (401, 404
# no such route, 400 unreadable body) carry the HTTP status as their responseCode (ASSUMED).
CONNECT_CODES = {
    "unknown_sku": 1020,
    "out_of_stock": 1044,
    "order_not_found": 1010,
    "key_not_found": 9001,
    "order_not_delivered": 9002,
    "key_not_activated": 9003,
    "reference_conflict": 9004,  # a seat change's reference used for another number of seats
    "subscription_not_found": 1010,
    "subscription_cancelled": 1011,
    "subscription_ended": 1011,
    "unauthorized": 401,
    "not_found": 404,
    "invalid_json": 400,
}
MESSAGES = {0: "OK", 1011: "Order cancelled", 1051: "Licenses currently not available"}
# lifecycle.status words of Nexway's Subscription object (documented in its notifications)
LIFECYCLE_STATUS = {"active": "Active", "cancelled": "Canceled", "ended": "Expired"}


class NexwaySimulator(Simulator):
    """Behave like Nexway Connect: orders accepted at once, keys delivered later."""

    name = "nexway"
    sku_pattern = re.compile(r"NX-[A-Z0-9][A-Z0-9-]{0,58}|[1-9][0-9]{0,9}")
    order_prefix = "NXO"
    content_type = "application/json"
    defaults = NEXWAY_DEFAULTS
    auto_renews = True  # documented: a subscription renews upon expiry unless cancelled

    def __init__(self, *, api_key: str, callback_secret: str, client_secret: str | None = None,
                 realm: str | None = None):
        """api_key is the access `secret`; with client_secret and realm, a JWT is required too."""
        self.api_key = api_key
        self.callback_secret = callback_secret
        self.client_secret, self.realm = client_secret, realm
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
        """Forget everything: pending deliveries, tokens and recorded requests included."""
        with self.schedule_lock:
            self.queue.clear()
            self.due.clear()
        super().reset()
        with self.lock:
            self.create_requests: dict[str, dict[str, Any]] = {}
            self.cancellations: dict[str, dict[str, Any]] = {}
            self.tokens: dict[str, float] = {}
            self.order_tokens: dict[str, str] = {}

    def state(self) -> dict[str, Any]:
        """Add to each order the CreateOrderRequest that bought it and its cancellation."""
        with self.lock:
            result = super().state()
            for reference, entry in result["orders"].items():
                entry["request"] = self.create_requests.get(reference)
                entry["cancellation"] = self.cancellations.get(reference)
            return result

    def routes(self) -> list[Route]:
        """Return the Connect routes (the replacement is ours)."""
        return [
            Route("POST", re.compile(r"/connect/stock"), "stock", self.stock),
            Route("POST", re.compile(r"/connect/order/new"), "create_order", self.create_order),
            Route("PUT", re.compile(r"/connect/order/cancel"), "cancel", self.cancel_order),
            Route("PUT", re.compile(r"/connect/order/download"), "extend", self.extend),
            Route("POST", re.compile(r"/connect/order/replace"), "replace", self.replace_key),
            Route("GET", re.compile(r"/connect/order/([^/]+)"), "get_order", self.get_order),
            Route("PUT", re.compile(r"/connect/subscription/cancel"), "cancel_subscription",
                  self.cancel_subscription),
            Route("PUT", re.compile(r"/connect/subscription/quantity"), "change_subscription",
                  self.change_subscription),
            Route("GET", re.compile(r"/connect/subscription/([^/]+)"), "get_subscription",
                  self.get_subscription),
        ]

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Reply:
        """Answer /iam/tokens here (it needs no secret); everything else as common.py does."""
        if urlsplit(target).path == "/iam/tokens":
            return self.token(method, body)
        return super().handle(method, target, headers, body)

    def authenticate(self, headers: Mapping[str, str]) -> bool:
        """Check the `secret` header (and the Bearer JWT when configured) in constant time."""
        if not hmac.compare_digest(headers.get("secret", "").encode(), self.api_key.encode()):
            return False
        if self.client_secret is None:
            return True
        scheme, _, token = headers.get("authorization", "").partition(" ")
        with self.lock:
            until = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        return until is not None and until > time.monotonic()

    def render(self, kind: str, payload: dict[str, Any]) -> bytes:
        """Serialise as JSON: an order in Connect's shape, an error as responseCode/Message."""
        return json.dumps(self.document(kind, payload)).encode()

    def document(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Return the JSON document of an answer (kind: order, doc, error)."""
        if kind == "error":
            code = payload["error"]["code"]
            number = int(code) if code.isdigit() else CONNECT_CODES.get(code)
            if number is None:  # the failure injection's "unavailable": the injected status
                number = int(self.config["fail_status"])
            return {"responseCode": number, "responseMessage": payload["error"]["message"]}
        if kind == "order":
            return self.order_document(payload)
        if kind == "subscription":
            return {"responseCode": 0, "responseMessage": "OK",
                    "subscription": self.subscription_document(payload)}
        return json.loads(json.dumps(payload))

    def subscription_document(self, sub: dict[str, Any]) -> dict[str, Any]:
        """Render a subscription as Nexway's Subscription object (the one its subscription
        notifications carry: id, createDate, lifecycle, modelId, products); quantity (the seats)
        and partnerOrderNumber (the order that opened it) are ours, ASSUMED."""
        return {
            "id": sub["subscription_id"], "createDate": sub["created_at"],
            "modelId": f"NEXWAY_{sub['term_months']}M",
            "lifecycle": {"anniversaryDate": sub["paid_until"], "generation": sub["generation"],
                          "status": LIFECYCLE_STATUS[sub["status"]]},
            "products": [{"id": sub["sku"], "lineItemId": sub["reference"]}],
            "partnerOrderNumber": sub["reference"], "quantity": sub["seats"],
        }

    def present_subscription(self, sub: SimSubscription) -> dict[str, Any]:
        """Add what the Subscription object names: the SKU, the first order, the term."""
        return super().present_subscription(sub) | {
            "sku": sub.sku, "reference": sub.reference, "term_months": sub.term_months}

    def order_document(self, order: dict[str, Any]) -> dict[str, Any]:
        """Render a neutral order (common.present_order) as a Connect order document.

        One lineItem per unit: responseCode 0 with its serial once delivered, 1051 while the
        key is to come, 1000 and the reason if the delivery failed; a cancelled order answers
        responseCode 1011. quantity echoes the request (ASSUMED, not in CreateOrderResponse).
        """
        status, quantity, items = order["status"], order["quantity"], order["items"]
        units: list[dict[str, Any]] = []
        subscription_id = order.get("subscription_id")
        for item in items:
            units.append({"responseCode": 0, "responseMessage": "OK",
                          "subscriptionId": subscription_id,
                          "serials": [{"data": item["product_key"], "encoding": "plain",
                                       "charset": "UTF-8", "fileName": ""}]})
        missing = quantity - len(units)
        if status == "failed":
            units += [{"responseCode": 1000, "responseMessage": order["error"] or "failed",
                       "serials": [], "subscriptionId": subscription_id}] * missing
        else:
            units += [{"responseCode": 1051, "responseMessage": MESSAGES[1051], "serials": [],
                       "subscriptionId": subscription_id}] * missing
        line: dict[str, Any] = {
            "productRef": int(order["sku"]) if order["sku"].isdigit() else order["sku"],
            "quantity": quantity,
            "responseCode": 1000 if status == "failed" else 0,
            "responseMessage": order["error"] if status == "failed" else "OK",
            "remark": "",
            "digitalLockerLink": None,
            "dateEndDownload": None,
            "files": [],
            "lineItems": [json.loads(json.dumps(unit)) for unit in units],
        }
        if items:
            line["dateEndDownload"] = min(i["download_expires_at"] for i in items)[:10]
            line["files"] = [{"group": "setup", "label": f"{order['sku']} installer",
                              "type": "exe", "size": 4096.0, "url": items[0]["download_url"]}]
        code = 1011 if status == "cancelled" else 0
        return {"responseCode": code, "responseMessage": MESSAGES[code],
                "partnerOrderNumber": order["reference"], "orderNumber": int(order["order_id"]),
                "orderLines": [line]}

    def malformed(self, status: int, kind: str, payload: dict[str, Any]) -> Reply:
        """Mangle a good answer in its Connect shape, the way malformed_mode says."""
        mode = self.config["malformed_mode"]
        doc = self.document(kind, payload)
        serials = [serial for line in doc.get("orderLines", [])
                   for unit in line.get("lineItems", []) for serial in unit.get("serials", [])]
        if mode == "auto":
            mode = "bad_key" if serials else "garbage"
        if mode == "bad_key" and serials:
            serials[0]["data"] = KEY_PLACEHOLDER
        elif mode == "missing_field":
            for entry in doc.get("productStatus", []):
                entry.pop("status", None)
            if "subscription" in doc:
                doc["subscription"]["lifecycle"].pop("status", None)
            elif "productStatus" not in doc:
                doc.pop("responseCode", None)
        elif mode == "wrong_quantity":
            entries = doc.get("orderLines", []) + doc.get("productStatus", [])
            for entry in entries + ([doc["subscription"]] if "subscription" in doc else []):
                entry["quantity"] = int(entry.get("quantity", 0)) + 1
        else:
            body = json.dumps(doc).encode()
            return Reply(status, body[: len(body) // 2], self.content_type)
        return Reply(status, json.dumps(doc).encode(), self.content_type)

    # -- orders and keys --------------------------------------------------------------------------

    def new_order_id(self) -> str:
        """Return an orderNumber: Connect types it int32."""
        return str(100_000_000 + secrets.randbelow(900_000_000))

    def new_item(self, order: SimOrder) -> dict[str, Any]:
        """Issue a key; Connect gives download files per order line, so one link per order."""
        token = self.order_tokens.get(order.reference)
        if token is None:
            token = self.order_tokens[order.reference] = secrets.token_urlsafe(16)
            self.downloads[token] = order.reference
        return {"product_key": self.new_key(),
                "download_url": f"{self.base_url}/downloads/{token}",
                "download_expires_at": datetime.now(UTC) + self.download_validity()}

    def new_subscription_id(self) -> str:
        """Return a subscription id: Nexway's are UUIDs."""
        return str(uuid.uuid4())

    def provision(self, sub: SimSubscription, until: datetime, why: str) -> None:
        """Renew, and deliver the term's order under the first one's partnerOrderNumber and the
        generation (documented: PARTNER689 renews as PARTNER689-1, PARTNER689-2, ...)."""
        super().provision(sub, until, why)
        order = SimOrder(reference=f"{sub.reference}-{sub.generation}",
                         order_id=self.new_order_id(), sku=sub.sku, quantity=sub.seats,
                         callback_url=None, subscription_id=sub.subscription_id)
        self.orders[order.reference] = order
        self.deliver(order)

    # -- JWT ------------------------------------------------------------------------------------

    def token(self, method: str, body: bytes) -> Reply:
        """POST /iam/tokens with {clientSecret, realmName, grantType: client_credentials}."""
        with self.lock:
            self.requests["token"] += 1
        if method != "POST" or self.client_secret is None or self.realm is None:
            return _token_reply(404, {"error": "not_found",
                                      "message": "token authentication is not configured"})
        try:
            data = json.loads(body or b"null")
        except ValueError:
            data = None
        if not isinstance(data, dict) or data.get("grantType") != "client_credentials":
            return _token_reply(400, {"error": "unsupported_grant_type",
                                      "message": "grantType: client_credentials"})
        given_secret = data.get("clientSecret")
        realm_ok = data.get("realmName") == self.realm
        secret_ok = isinstance(given_secret, str) and hmac.compare_digest(
            given_secret.encode(), self.client_secret.encode())
        if not (secret_ok and realm_ok):
            return _token_reply(401, {"error": "unauthorized", "message": "bad client secret"})
        ttl = int(self.config["token_ttl_s"])
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[token] = time.monotonic() + ttl
        return _token_reply(200, {"access_token": token, "token_type": "Bearer",
                                  "expires_in": ttl, "refresh_token": secrets.token_urlsafe(24),
                                  "refresh_expires_in": ttl * 6})

    # -- API actions ----------------------------------------------------------------------------

    def stock(self, *, body: bytes) -> tuple[int, str, dict[str, Any]]:
        """POST /connect/stock {productRefs}: one productStatus per reference.

        status 100 enough, 200 almost out, 300 out of stock (the SOAP API's values); quantity is
        an extension of ours (ASSUMED), so the stock controls stay observable.
        """
        refs = _json_object(body, "100").get("productRefs")
        if not isinstance(refs, list) or not refs:
            raise SimError(400, "100", "productRefs is missing")
        entries: list[dict[str, Any]] = []
        with self.lock:
            for ref in refs:
                if isinstance(ref, bool) or not isinstance(ref, (str, int)):
                    entries.append({"productRef": ref, "responseCode": 101,
                                    "responseMessage": "productRef is not valid"})
                    continue
                try:
                    self.check_sku(str(ref))
                except SimError:
                    entries.append({"productRef": ref, "responseCode": 1010,
                                    "responseMessage": "Product reference doesn't exist"})
                    continue
                left = self.stock_left(str(ref))
                status = 300 if left == 0 else (
                    200 if left < int(self.config["almost_out_of_stock_below"]) else 100)
                entries.append({"productRef": ref, "status": status, "quantity": left,
                                "responseCode": 0, "responseMessage": "OK"})
        return 200, "doc", {"responseCode": 0, "responseMessage": "OK", "productStatus": entries}

    def create_order(self, *, body: bytes) -> tuple[int, str, dict[str, Any]]:
        """POST /connect/order/new: a new partnerOrderNumber buys once; a known one is 1010."""
        data = _json_object(body, "100")
        reference, sku, quantity, callback_url = self.check_create(data)
        with self.lock:
            if reference in self.orders:
                raise SimError(409, "1010", "Order already created")
            order, _ = self.create(reference, sku, quantity, callback_url)
            self.create_requests[reference] = json.loads(json.dumps(data))
            answer = self.present_order(order)
            if not self.config["notify_before_answer"]:
                self.schedule(order)
                return 200, "order", answer
            # A delivery that overtakes its own answer: keys issued and notified first.
            self.due[reference] = time.monotonic()
            self.complete_if_due(order)
            notify = bool(order.callback_url) and order.status in ("delivered", "failed")
            payload = json.dumps(self.notification(order)).encode() if notify else b""
        if notify:  # the answer waits for the notification's, two seconds at most
            sent = threading.Thread(target=self.send_callback, args=(order, payload), daemon=True)
            sent.start()
            sent.join(timeout=2.0)
        return 200, "order", answer

    def check_create(self, data: dict[str, Any]) -> tuple[str, str, int, str | None]:
        """Validate a CreateOrderRequest; raise the SOAP API's code for the first fault."""
        reference = data.get("partnerOrderNumber")
        if not isinstance(reference, str) or not REFERENCE_RE.fullmatch(reference):
            raise SimError(400, "130", "partnerOrderNumber: 1 to 64 of A-Z a-z 0-9 . _ : -")
        if "orderDate" not in data:
            raise SimError(400, "140", "orderDate is missing")
        if not _zoned_time(data["orderDate"]):
            raise SimError(400, "141", "orderDate: ISO 8601 with its offset")
        if "currency" not in data:
            raise SimError(400, "120", "currency is missing")
        if not isinstance(data["currency"], str) or not CURRENCY_RE.fullmatch(data["currency"]):
            raise SimError(400, "121", "currency: ISO 4217, e.g. EUR")
        lines = data.get("orderLines")
        if not isinstance(lines, list) or not lines or not isinstance(lines[0], dict):
            raise SimError(400, "200", "orderLines is missing")
        if len(lines) != 1:
            raise SimError(400, "200", "the simulator takes one order line per order")
        line = lines[0]
        if "productRef" not in line:
            raise SimError(400, "210", "orderLines[0].productRef is missing")
        ref = line["productRef"]
        if isinstance(ref, bool) or not isinstance(ref, (str, int)) or str(ref) == "":
            raise SimError(400, "211", "orderLines[0].productRef is not valid")
        if "quantity" not in line:
            raise SimError(400, "220", "orderLines[0].quantity is missing")
        quantity = line["quantity"]
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= 100:
            raise SimError(400, "221", "orderLines[0].quantity: an integer from 1 to 100")
        for name, code, top in (("vatRate", "231", 100), ("amountDutyFree", "241", None),
                                ("amountTotal", "251", None)):
            if not _amount(line.get(name), top):
                raise SimError(400, code, f"orderLines[0].{name}: a number >= 0 or null")
        if (self.config["require_prices"] and line.get("amountTotal") is None
                and line.get("amountDutyFree") is None):
            raise SimError(400, "1053", "the configuration requires amountDutyFree or amountTotal")
        self.check_customer(data.get("customer"))
        return reference, str(ref), quantity, _notification_url(data.get("metadata"))

    @staticmethod
    def check_customer(customer: object) -> None:
        """Validate the customer: e-mail, language (ll_CC) and the invoicing country."""
        if not isinstance(customer, dict) or "email" not in customer:
            raise SimError(400, "320", "customer.email is missing")
        if not isinstance(customer["email"], str) or not EMAIL_RE.fullmatch(customer["email"]):
            raise SimError(400, "321", "customer.email is not valid")
        if "language" not in customer:
            raise SimError(400, "330", "customer.language is missing")
        if not isinstance(customer["language"], str) or not LANGUAGE_RE.fullmatch(
                customer["language"]):
            raise SimError(400, "331", "customer.language: ll_CC, e.g. fr_FR")
        location = customer.get("locationInvoice")
        if not isinstance(location, dict):
            raise SimError(400, "420", "customer.locationInvoice is missing")
        if "country" not in location:
            raise SimError(400, "500", "customer.locationInvoice.country is missing")
        if not isinstance(location["country"], str) or not COUNTRY_RE.fullmatch(
                location["country"]):
            raise SimError(400, "501", "customer.locationInvoice.country: ISO 3166-1 alpha-2")

    def get_order(self, reference: str, *, body: bytes) -> tuple[int, str, dict[str, Any]]:
        """GET /connect/order/{partnerOrderNumber}: the order as it stands."""
        with self.lock:
            order = self.find(reference)
            self.complete_if_due(order)
            return 200, "order", self.present_order(order)

    def cancel_order(self, *, body: bytes) -> tuple[int, str, dict[str, Any]]:
        """PUT /connect/order/cancel {partnerOrderNumber, reasonCode, comment}."""
        data = _json_object(body, "110")
        reference = data.get("partnerOrderNumber")
        if not isinstance(reference, str) or not reference:
            raise SimError(400, "110", "partnerOrderNumber is missing")
        if "reasonCode" not in data:
            raise SimError(400, "100", "reasonCode is missing")
        reason = data["reasonCode"]
        if isinstance(reason, bool) or not isinstance(reason, int) or reason not in CANCEL_REASONS:
            raise SimError(400, "101", f"reasonCode: one of {sorted(CANCEL_REASONS)}")
        with self.lock:
            order = self.find(reference)
            if order.status == "cancelled":
                raise SimError(409, "1011", "Order already cancelled")
            self.cancel(reference)
            self.cancellations[reference] = {"reasonCode": reason,
                                             "comment": data.get("comment")}
            return 200, "doc", {"responseCode": 0, "responseMessage": "OK",
                                "partnerOrderNumber": reference,
                                "orderNumber": int(order.order_id)}

    def extend(self, *, body: bytes) -> tuple[int, str, dict[str, Any]]:
        """PUT /connect/order/download {partnerOrderNumber, value}: a new end date (YYYY-MM-DD)
        or a period added to the current one (P1Y2M5D); downloads end at 00:00 UTC that day."""
        data = _json_object(body, "100")
        reference = data.get("partnerOrderNumber")
        if not isinstance(reference, str) or not reference:
            raise SimError(400, "100", "partnerOrderNumber is missing")
        if "value" not in data:
            raise SimError(400, "110", "value is missing")
        with self.lock:
            order = self.find(reference)
            self.complete_if_due(order)
            if order.status == "cancelled":
                raise SimError(409, "1011", "Order already cancelled")
            if order.status != "delivered":
                raise SimError(409, "1051", MESSAGES[1051])
            current = min(item["download_expires_at"] for item in order.items)
            end = _download_end(data["value"], current)
            if end is None or end <= datetime.now(UTC):
                raise SimError(400, "111", "value: a future YYYY-MM-DD or a period like P21D")
            for item in order.items:
                item["download_expires_at"] = end
            line = self.order_document(self.present_order(order))["orderLines"][0]
            return 200, "doc", {
                "responseCode": 0, "responseMessage": "OK", "partnerOrderNumber": reference,
                "newDownloadEndDate": end.date().isoformat(),
                "orderLines": [{key: line[key] for key in
                                ("productRef", "dateEndDownload", "files")}],
            }

    def replace_key(self, *, body: bytes) -> tuple[int, str, dict[str, Any]]:
        """POST /connect/order/replace {partnerOrderNumber, serial}: ASSUMED, ours."""
        data = _json_object(body, "400")
        reference, key = data.get("partnerOrderNumber"), data.get("serial")
        if not isinstance(reference, str) or not isinstance(key, str):
            raise SimError(400, "400", "partnerOrderNumber and serial: strings")
        with self.lock:
            self.complete_if_due(self.find(reference))
            return 200, "order", self.present_order(self.replace(reference, key))

    def get_subscription(self, subscription_id: str, *,
                         body: bytes) -> tuple[int, str, dict[str, Any]]:
        """GET /connect/subscription/{subscriptionId}: "Get subscription status" (the service is
        documented, its path ASSUMED)."""
        with self.lock:
            return 200, "subscription", self.present_subscription(
                self.find_subscription(subscription_id))

    def cancel_subscription(self, *, body: bytes) -> tuple[int, str, dict[str, Any]]:
        """PUT /connect/subscription/cancel {subscriptionId}: "Cancel subscription" (documented
        service, ASSUMED path and body); 1011 when it no longer renews."""
        subscription_id = _json_object(body, "100").get("subscriptionId")
        if not isinstance(subscription_id, str) or not subscription_id:
            raise SimError(400, "110", "subscriptionId is missing")
        with self.lock:
            sub, cancelled = self.stop_renewal(subscription_id)
            if not cancelled:
                raise SimError(409, "1011", f"Subscription already {sub.status}")
            return 200, "subscription", self.present_subscription(sub)

    def change_subscription(self, *, body: bytes) -> tuple[int, str, dict[str, Any]]:
        """PUT /connect/subscription/quantity {subscriptionId, partnerOrderNumber, quantity}:
        ASSUMED, ours (Nexway documents no change of seats). Once per partnerOrderNumber."""
        data = _json_object(body, "100")
        subscription_id, reference = data.get("subscriptionId"), data.get("partnerOrderNumber")
        quantity = data.get("quantity")
        if not isinstance(subscription_id, str) or not subscription_id:
            raise SimError(400, "110", "subscriptionId is missing")
        if not isinstance(reference, str) or not REFERENCE_RE.fullmatch(reference):
            raise SimError(400, "130", "partnerOrderNumber: 1 to 64 of A-Z a-z 0-9 . _ : -")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= 1000:
            raise SimError(400, "221", "quantity: an integer from 1 to 1000")
        with self.lock:
            sub, _ = self.change_seats(subscription_id, reference, quantity)
            return 200, "subscription", self.present_subscription(sub)

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

    def notification(self, order: SimOrder) -> dict[str, Any]:
        """Nexway's order notification: subject, type, objectId, eventDate and the order."""
        kind = {"delivered": "completed", "failed": "fulfillmentFailed",
                "cancelled": "canceled"}[order.status]
        moment = datetime.now(UTC)
        return {"subject": "order", "type": kind, "objectId": order.order_id,
                "eventDate": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "order": self.order_document(self.present_order(order))}

    def run_deliveries(self) -> None:
        """Deliver orders as they fall due and post their notifications."""
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
                payload = self.notification(order)
                if self.take("malformed_next_n", "callback"):
                    for line in payload["order"]["orderLines"]:
                        for unit in line["lineItems"]:
                            for serial in unit["serials"]:
                                serial["data"] = "NOT-A-KEY"
                    payload["order"].pop("responseCode", None)
            self.send_callback(order, json.dumps(payload).encode())

    def send_callback(self, order: SimOrder, body: bytes) -> None:
        """POST the signed notification, retrying a few times until it gets a 2xx."""
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


def _json_object(body: bytes, code: str) -> dict[str, Any]:
    try:
        data = json.loads(body or b"null")
    except ValueError as exc:
        raise SimError(400, code, "the body is not JSON") from exc
    if not isinstance(data, dict):
        raise SimError(400, code, "the body is not a JSON object")
    return data


def _zoned_time(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


def _amount(value: object, top: float | None) -> bool:
    if value is None:
        return True
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        return False
    return top is None or value <= top


def _notification_url(metadata: object) -> str | None:
    """Read our notificationUrl from metadata [{key, value}] (the key is ASSUMED, ours)."""
    if metadata is None:
        return None
    if not isinstance(metadata, list):
        raise SimError(400, "750", "metadata: a list of {key, value}")
    url = None
    for entry in metadata:
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str) or not entry["key"]:
            raise SimError(400, "751", "metadata key is missing")
        if entry["key"] == "notificationUrl":
            value = entry.get("value")
            if not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https"):
                raise SimError(400, "751", "metadata notificationUrl: an http(s) URL")
            url = value
    return url


def _download_end(value: object, current: datetime) -> datetime | None:
    """Read updateDownloadTime's value: YYYY-MM-DD, or a period added to the current end."""
    if not isinstance(value, str):
        return None
    if len(value) == 10:
        try:
            day = date.fromisoformat(value)
        except ValueError:
            return None
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    period = DURATION_RE.fullmatch(value)
    if period is None:
        return None
    years, months, days = (int(part or 0) for part in period.groups())
    return current + timedelta(days=365 * years + 30 * months + days)


def _token_reply(status: int, payload: dict[str, Any]) -> Reply:
    return Reply(status, json.dumps(payload).encode(), "application/json")


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
