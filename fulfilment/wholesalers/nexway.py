"""The Nexway adapter: Nexway Connect, JSON over HTTP with the `secret` header (and a JWT).

What comes from Nexway's public reference and what is ours is listed in docs/wholesalers.md
("Nexway Connect"). In short:

* documented by Nexway: `POST /connect/order/new` with the `secret` header and a
  CreateOrderRequest (partnerOrderNumber, orderDate, currency, orderLines, customer, metadata);
  the CreateOrderResponse (responseCode/responseMessage, orderNumber, partnerOrderNumber,
  orderLines[].lineItems[].serials[], files[], dateEndDownload); JWT tokens from `POST /iam/tokens`
  sent as `Authorization: Bearer`;
* seen in Nexway's list of services and in public clients of the API, shapes partly assumed:
  `POST /connect/stock`, `GET /connect/order/{id}`, `PUT /connect/order/cancel`,
  `PUT /connect/order/download`; the numeric responseCodes are those of Nexway's SOAP Order API;
* ASSUMED (ours): key replacement (`POST /connect/order/replace`), the per-unit pending and
  cancelled markers, the `quantity` echo in answers, the `notificationUrl` metadata key and the
  HMAC `Nexway-Signature` on notifications;
* subscriptions: documented that createOrder returns each line item's `subscriptionId`, that a
  subscription renews at Nexway upon expiry unless cancelled, that "Get subscription status" and
  "Cancel subscription" exist (cancelling the subscription, not the order, keeps the licence to
  its expiry) and the Subscription object of the subscription notifications (lifecycle
  anniversaryDate, generation, status); ASSUMED their paths (`GET /connect/subscription/{id}`,
  `PUT /connect/subscription/cancel`), the seats (`quantity`) and the change of seats
  (`PUT /connect/subscription/quantity`), which Nexway does not document.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from fulfilment.wholesalers.base import (
    BadCallbackSignature,
    Customer,
    DeliveredItem,
    MalformedAnswer,
    OutOfStock,
    PermanentWholesalerError,
    StockInfo,
    SupplierOrder,
    SupplierOrderRequest,
    SupplierOrderStatus,
    SupplierSubscription,
    SupplierSubscriptionStatus,
    TemporaryWholesalerError,
    UnknownSku,
    WholesalerError,
)
from fulfilment.wholesalers.http import Answer, HttpAdapter, HttpClient, RetryPolicy, with_retries
from fulfilment.wholesalers.keys import is_valid_product_key
from fulfilment.wholesalers.validation import (
    MAX_QUANTITY,
    check_replacement,
    check_seats,
    check_subscription_request,
    make_item,
    make_order,
    make_stock,
    make_subscription,
    parse_date_or_datetime,
    parse_datetime,
    parse_url,
    require_id,
    require_int,
    require_str,
)

log = logging.getLogger(__name__)

SECRET_HEADER = "secret"  # noqa: S105 - a header name. Documented: "Access secret", required on every Connect call
SIGNATURE_HEADER = "Nexway-Signature"  # ASSUMED: ours, Nexway documents no notification signature
CALLBACK_TOLERANCE_SECONDS = 300
DOWNLOAD_VALIDITY_DAYS = 21  # documented: downloads are open 21 days after the purchase

ORDER_NEW = "/connect/order/new"
ORDER = "/connect/order/"  # + partnerOrderNumber (ASSUMED: the SOAP getData looked orders up by it)
ORDER_CANCEL = "/connect/order/cancel"
ORDER_DOWNLOAD = "/connect/order/download"
ORDER_REPLACE = "/connect/order/replace"  # ASSUMED: no such operation in Nexway Connect
STOCK = "/connect/stock"
SUBSCRIPTION = "/connect/subscription/"  # + id: "Get subscription status" (path ASSUMED)
SUBSCRIPTION_CANCEL = "/connect/subscription/cancel"  # "Cancel subscription" (path ASSUMED)
SUBSCRIPTION_QUANTITY = "/connect/subscription/quantity"  # ASSUMED: no such Nexway operation
# Nexway's anniversaryDate and the end of our billing period come from two clocks (and a bare
# date reads as 00:00 UTC): a term Nexway provisioned to within a day of ours is that term.
RENEWAL_TOLERANCE = timedelta(days=1)
# lifecycle.status of Nexway's Subscription object: Dunning still renews (a payment retried),
# Suspended and Canceled no longer renew but run to the anniversary, Expired is over.
LIFECYCLE_STATUSES = {
    "active": SupplierSubscriptionStatus.ACTIVE,
    "dunning": SupplierSubscriptionStatus.ACTIVE,
    "suspended": SupplierSubscriptionStatus.CANCELLED,
    "canceled": SupplierSubscriptionStatus.CANCELLED,
    "cancelled": SupplierSubscriptionStatus.CANCELLED,
    "expired": SupplierSubscriptionStatus.ENDED,
}

# JWTs handed out by /iam/tokens, shared by every adapter of the process (an adapter lives for
# one call): (token URL, realm, client secret's hash) -> (token, monotonic time to renew at).
_tokens: dict[tuple[str, str, str], tuple[str, float]] = {}
_tokens_lock = threading.Lock()


def forget_tokens() -> None:
    """Drop the cached JWTs (tests, or after rotating the client secret)."""
    with _tokens_lock:
        _tokens.clear()
TOKENS = "/iam/tokens"

# responseCode values. 0 is documented for Connect; the others are the SOAP Order API's
# (wsdocs.nexway.com, as transcribed by public clients), assumed to carry over to Connect.
OK = 0
ALREADY_CREATED = 1010  # on create: OrderAlreadyCreated
NOT_FOUND = 1010  # on get, cancel, download time: OrderNotFound
ALREADY_CANCELLED = 1011  # on cancel and download time; ASSUMED on get: the order is cancelled
LICENCES_NOT_AVAILABLE = 1051  # ASSUMED on a line item: this unit's key is still to come
OUT_OF_STOCK_CODES = frozenset({1044, 1051})  # OutOfStock, LicensesCurrentlyNotAvailable (create)
UNKNOWN_PRODUCT_CODES = frozenset({211, 1020})  # ProductRefIsInvalid, ProductReferenceDoesntExist
UNKNOWN_PRODUCT_STOCK_CODES = frozenset({101, 1010})  # the same, in a getStockStatus entry
INTERNAL_ERROR_CODES = frozenset({1000, 1052})  # InternalError: worth another try later

STOCK_ENOUGH, STOCK_ALMOST_OUT, STOCK_OUT = 100, 200, 300  # SOAP getStockStatus productStatus
CANCEL_REASON_ORDER_CANCELLED = 2  # SOAP reasonCode REASONCODE__ORDER_CANCELLED

# Notification types (Nexway documents these for its order notifications) and our statuses.
NOTIFICATION_TYPES = {
    "completed": SupplierOrderStatus.DELIVERED,
    "fulfillmentFailed": SupplierOrderStatus.FAILED,
    "canceled": SupplierOrderStatus.CANCELLED,
}

# Sent as the customer until fulfilment passes the buyer (SupplierOrderRequest.customer). Nexway
# asks for the real end-user's e-mail: the .invalid domain (RFC 2606) makes the stand-in obvious
# in Nexway's back office and undeliverable, rather than somebody else's address.
FALLBACK_CUSTOMER = Customer(email="buyer-not-given@comptoir.invalid", language="en",
                             country="FR")


def sign_callback(secret: str, body: bytes, timestamp: int) -> str:
    """Return the Nexway-Signature header value for body sent at timestamp (Unix seconds)."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_callback(secret: str, body: bytes, header: str | None, *, now: float | None = None,
                    tolerance: int = CALLBACK_TOLERANCE_SECONDS) -> None:
    """Raise BadCallbackSignature unless header signs body with secret within the tolerance."""
    if not header:
        raise BadCallbackSignature("callback without a signature")
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if sep:
            fields.setdefault(name, []).append(value)
    stamps, signatures = fields.get("t", []), fields.get("v1", [])
    if len(stamps) != 1 or not stamps[0].isascii() or not stamps[0].isdigit() or not signatures:
        raise BadCallbackSignature("callback signature header is malformed")
    timestamp = int(stamps[0])
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise BadCallbackSignature("callback timestamp is outside the tolerance (stale or future)")
    expected = sign_callback(secret, body, timestamp).partition(",v1=")[2]
    if not any(hmac.compare_digest(expected.encode(), s.encode()) for s in signatures):
        raise BadCallbackSignature("callback signature does not match")


def product_ref(sku: str) -> int | str:
    """Return the productRef to send: Connect types it int32, so digits go as a number."""
    number = sku.isascii() and sku.isdigit() and not sku.startswith("0")
    return int(sku) if number else sku


def create_order_body(request: SupplierOrderRequest, *,
                      fallback_customer: Customer = FALLBACK_CUSTOMER,
                      now: datetime | None = None) -> dict[str, Any]:
    """Build the CreateOrderRequest for request.

    Without request.customer the fallback customer goes instead; without request.unit_price_cents
    the amounts go as null (as public clients send them; a catalogue configured to need a price
    answers 1053, a permanent error). Both fallbacks are logged.
    """
    if request.customer is None:
        log.warning("nexway order %s: no customer given, sending the stand-in %s",
                    request.reference, fallback_customer.email)
    customer = request.customer or fallback_customer
    moment = request.order_date or now or datetime.now(UTC)
    if moment.tzinfo is None:  # base.py asks for aware UTC; a naive time is read as UTC
        moment = moment.replace(tzinfo=UTC)
    currency = request.currency.upper()
    if len(currency) != 3 or not currency.isascii() or not currency.isalpha():
        raise ValueError(f"currency {request.currency!r} is not an ISO 4217 code")
    line: dict[str, Any] = {"productRef": product_ref(request.sku), "quantity": request.quantity,
                            "vatRate": None, "amountDutyFree": None, "amountTotal": None}
    price = request.unit_price_cents
    if price is None:
        log.warning("nexway order %s: no price given, amounts sent as null", request.reference)
    else:
        if isinstance(price, bool) or not isinstance(price, int) or price < 0:
            raise ValueError("unit_price_cents must be a non-negative integer")
        # amountTotal: what the buyer pays for the line, tax included (ASSUMED reading of the
        # name: Connect documents the field, not whether it is per unit or per line).
        line["amountTotal"] = round(price * request.quantity / 100, 2)
    invoice: dict[str, Any] = {"country": customer.country.upper()}
    if customer.first_name:
        invoice["firstName"] = customer.first_name
    if customer.last_name:
        invoice["lastName"] = customer.last_name
    body: dict[str, Any] = {
        "partnerOrderNumber": request.reference,
        "orderDate": moment.astimezone(UTC).isoformat(timespec="seconds"),
        "currency": currency,
        "orderLines": [line],
        "customer": {
            "email": customer.email,
            # "language" is documented as a string; Nexway's clients send ll_CC (fr_FR, en_GB).
            "language": f"{customer.language.lower()[:2]}_{customer.country.upper()}",
            "locationInvoice": invoice,
        },
    }
    if request.callback_url:
        # ASSUMED: metadata is documented ("various type of data"), this key is ours: Connect
        # has no per-order notification address (Nexway configures receivers per account).
        body["metadata"] = [{"key": "notificationUrl", "value": request.callback_url}]
    return body


class NexwayAdapter(HttpAdapter):
    """Talk to Nexway Connect: stock, order (keys later), look-up, cancel, download time."""

    code = "nexway"
    supports_callbacks = True
    supports_extension = True

    def __init__(self, *, url: str, api_key: str, callback_secret: str, connect_timeout: float,
                 read_timeout: float, retry: RetryPolicy | None = None,
                 client_secret: str | None = None, realm: str | None = None,
                 token_url: str | None = None, fallback_customer: Customer = FALLBACK_CUSTOMER):
        """api_key is Connect's access `secret`; client_secret and realm, when both are given,
        turn on the JWT (`POST /iam/tokens`, grant client_credentials) on every call."""
        client = HttpClient(url, connect_timeout=connect_timeout, read_timeout=read_timeout,
                            headers={SECRET_HEADER: api_key, "Accept": "application/json"})
        super().__init__(client, retry or RetryPolicy())
        self.callback_secret = callback_secret
        self.fallback_customer = fallback_customer
        self.client_secret, self.realm = client_secret, realm
        self.token_client: HttpClient | None = None
        if client_secret and realm:
            self.token_client = HttpClient(token_url or url, connect_timeout=connect_timeout,
                                           read_timeout=read_timeout,
                                           headers={"Accept": "application/json"})
        self._token_key = (self.token_client.base_url if self.token_client else "", realm or "",
                           hashlib.sha256((client_secret or "").encode()).hexdigest())

    def close(self) -> None:
        """Close both HTTP sessions."""
        super().close()
        if self.token_client is not None:
            self.token_client.close()

    # -- the Wholesaler operations ----------------------------------------------------------------

    def check_stock(self, sku: str) -> StockInfo:
        """Ask Nexway for the SKU's stock (getStockStatus)."""
        body = json.dumps({"productRefs": [product_ref(sku)]}).encode()

        def attempt() -> StockInfo:
            answer = self._send("POST", STOCK, body)
            code, doc = _read(answer, "stock")
            if code != OK:
                raise _error(code, doc, "stock", status=answer.status)
            return _stock(doc, sku)

        return with_retries(self.retry, f"nexway stock {sku}", attempt)

    def place_order(self, request: SupplierOrderRequest) -> SupplierOrder:
        """Check stock, then buy under our reference (partnerOrderNumber), once.

        A reference Nexway already has (a retry after a lost answer) is looked up, not bought
        again; an order found after a timeout is kept.
        """
        stock = self.check_stock(request.sku)
        if not stock.available or stock.quantity < request.quantity:
            existing = self._fetch(request.reference, request)
            if existing is not None:
                return existing
            raise OutOfStock(f"nexway: {stock.quantity} of {request.sku} for {request.quantity}",
                             code="out_of_stock")
        body = json.dumps(create_order_body(request, fallback_customer=self.fallback_customer))

        def attempt() -> SupplierOrder:
            answer = self._send("POST", ORDER_NEW, body.encode())
            code, doc = _read(answer, "order")
            if code == OK:
                return _order(doc, request.reference, request)
            if code == ALREADY_CREATED:
                return self._already_created(request, answer.status)
            raise _error(code, doc, "order", status=answer.status, maybe_applied=True)

        def recover() -> SupplierOrder | None:
            return self._fetch_once(request.reference, request)

        return with_retries(self.retry, f"nexway order {request.reference}", attempt,
                            recover=recover)

    def fetch_order(self, reference: str) -> SupplierOrder | None:
        """Look the order up by partnerOrderNumber."""
        return self._fetch(reference, None)

    def cancel(self, reference: str) -> None:
        """Cancel the order; one Nexway does not know, or has cancelled already, is done."""
        body = json.dumps({"partnerOrderNumber": reference,
                           "reasonCode": CANCEL_REASON_ORDER_CANCELLED,
                           "comment": "cancelled by Comptoir"}).encode()

        def attempt() -> None:
            answer = self._send("PUT", ORDER_CANCEL, body)
            code, doc = _read(answer, "cancel")
            if code in (NOT_FOUND, ALREADY_CANCELLED):
                return None
            if code != OK:
                raise _error(code, doc, "cancel", status=answer.status)
            _same_reference(doc, reference)
            return None

        with_retries(self.retry, f"nexway cancel {reference}", attempt)

    def request_replacement(self, reference: str, product_key: str) -> SupplierOrder:
        """Ask for a new key in place of one reported already activated.

        ASSUMED: Nexway Connect documents no replacement; this is our extension (see the docs).
        """
        if not is_valid_product_key(product_key):
            raise ValueError("product_key is not a 5x5 product key")
        body = json.dumps({"partnerOrderNumber": reference, "serial": product_key}).encode()

        def attempt() -> SupplierOrder:
            answer = self._send("POST", ORDER_REPLACE, body)
            code, doc = _read(answer, "replacement")
            if code != OK:
                raise _error(code, doc, "replacement", status=answer.status)
            return check_replacement(_order(doc, reference, None), product_key)

        return with_retries(self.retry, f"nexway replacement {reference}", attempt)

    def get_subscription(self, subscription_id: str) -> SupplierSubscription:
        """Get subscription status: the term Nexway has provisioned to, its seats, its status."""
        check_subscription_request(subscription_id, None, None)
        return with_retries(self.retry, f"nexway subscription {subscription_id}",
                            lambda: self._subscription_once(subscription_id))

    def renew_subscription(self, subscription_id: str, *, reference: str, seats: int,
                           until: datetime) -> SupplierSubscription:
        """Confirm the renewal Nexway made by itself upon expiry (documented: subscriptions
        renew automatically unless cancelled; the partner checks "Get subscription status").

        Nexway provisioned the term to `until` (within RENEWAL_TOLERANCE): confirmed, and the
        seats are set for it under `reference` when they differ (the ASSUMED change of seats,
        once per reference). Cancelled or ended before reaching `until`: Nexway will not renew,
        a PermanentWholesalerError. Still active short of `until`: Nexway has not renewed yet,
        a TemporaryWholesalerError (code renewal_pending) to look again later. Nothing here
        buys: a retried renewal cannot provision twice.
        """
        check_subscription_request(subscription_id, reference, seats, until)
        found = self.get_subscription(subscription_id)
        reached = found.paid_until is not None and found.paid_until >= until - RENEWAL_TOLERANCE
        if reached and found.status is not SupplierSubscriptionStatus.ENDED:
            if found.seats != seats:
                return self.change_subscription(subscription_id, reference=reference,
                                                seats=seats)
            return found
        end = found.paid_until.isoformat() if found.paid_until else "unknown"
        if found.status is not SupplierSubscriptionStatus.ACTIVE:
            raise PermanentWholesalerError(
                f"nexway will not renew {subscription_id}: it is {found.status} "
                f"(paid until {end}, renewal asked to {until.isoformat()})",
                code=f"subscription_{found.status}")
        raise TemporaryWholesalerError(
            f"nexway has not renewed {subscription_id} yet: paid until {end}, "
            f"renewal asked to {until.isoformat()}; it renews upon expiry",
            code="renewal_pending")

    def change_subscription(self, subscription_id: str, *, reference: str,
                            seats: int) -> SupplierSubscription:
        """Set the subscription's number of users (ASSUMED: Nexway documents no such operation,
        see docs/wholesalers.md). Our reference goes as partnerOrderNumber: Nexway answers a
        reference it has seen with the same change, so a retry changes nothing twice."""
        check_subscription_request(subscription_id, reference, seats)
        body = json.dumps({"subscriptionId": subscription_id, "partnerOrderNumber": reference,
                           "quantity": seats}).encode()

        def attempt() -> SupplierSubscription:
            answer = self._send("PUT", SUBSCRIPTION_QUANTITY, body)
            code, doc = _read(answer, "subscription change")
            if code != OK:
                raise _error(code, doc, "subscription change", status=answer.status)
            return check_seats(_subscription(doc, subscription_id), seats)

        return with_retries(self.retry, f"nexway change {subscription_id} {reference}", attempt)

    def cancel_subscription(self, subscription_id: str) -> SupplierSubscription:
        """Cancel subscription (not its order): no renewal, the licence stays active until its
        expiry (documented). Already cancelled (1011) is done: the status is read back."""
        check_subscription_request(subscription_id, None, None)
        body = json.dumps({"subscriptionId": subscription_id}).encode()

        def attempt() -> SupplierSubscription:
            answer = self._send("PUT", SUBSCRIPTION_CANCEL, body)
            code, doc = _read(answer, "subscription cancel")
            if code == ALREADY_CANCELLED:
                found = self._subscription_once(subscription_id)
            elif code == OK:
                found = _subscription(doc, subscription_id)
            else:
                raise _error(code, doc, "subscription cancel", status=answer.status)
            if found.status is SupplierSubscriptionStatus.ACTIVE:
                raise MalformedAnswer("nexway cancelled a subscription that is still active")
            return found

        return with_retries(self.retry, f"nexway cancel subscription {subscription_id}", attempt)

    def extend_download(self, reference: str) -> SupplierOrder:
        """Open the downloads until 21 days from today (updateDownloadTime), then read the order."""
        until = (datetime.now(UTC) + timedelta(days=DOWNLOAD_VALIDITY_DAYS)).date()
        body = json.dumps({"partnerOrderNumber": reference, "value": until.isoformat()}).encode()

        def attempt() -> SupplierOrder:
            answer = self._send("PUT", ORDER_DOWNLOAD, body)
            code, doc = _read(answer, "download time")
            if code != OK:
                raise _error(code, doc, "download time", status=answer.status)
            _same_reference(doc, reference)
            parse_date_or_datetime(doc.get("newDownloadEndDate"), "newDownloadEndDate")
            order = self._fetch_once(reference, None)
            if order is None:
                raise MalformedAnswer("nexway extended the downloads of an order it does not find")
            return order

        return with_retries(self.retry, f"nexway extend {reference}", attempt)

    def handle_callback(self, body: bytes, headers: Mapping[str, str]) -> SupplierOrder:
        """Verify the notification's signature and timestamp, then decode the order it carries.

        The envelope (subject, type, objectId, eventDate, order) is the one Nexway documents for
        its order notifications; `order` is the Connect order document; the signature is ours.
        """
        lowered = {name.lower(): value for name, value in headers.items()}
        verify_callback(self.callback_secret, body, lowered.get(SIGNATURE_HEADER.lower()))
        envelope = _decode(body)
        if envelope.get("subject") != "order":
            raise MalformedAnswer("notification: subject is not 'order'")
        kind = envelope.get("type")
        if not isinstance(kind, str) or kind not in NOTIFICATION_TYPES:
            raise MalformedAnswer(f"notification: type {kind!r} carries no delivery")
        parse_datetime(envelope.get("eventDate"), "eventDate")
        document = envelope.get("order")
        if not isinstance(document, dict):
            raise MalformedAnswer("notification: order is not an object")
        order = _order(document, None, None)
        if envelope.get("objectId") != order.supplier_order_id:
            raise MalformedAnswer("notification: objectId is not the order's orderNumber")
        if order.status is not NOTIFICATION_TYPES[kind]:
            raise MalformedAnswer(f"notification: type {kind} for an order {order.status}")
        return order

    # -- internals ------------------------------------------------------------------------------

    def _already_created(self, request: SupplierOrderRequest, status: int) -> SupplierOrder:
        """Nexway has this partnerOrderNumber: return it if it is this very order, else refuse."""
        existing = self._fetch_once(request.reference, None)
        if existing is None:
            raise MalformedAnswer(f"nexway: {request.reference} already created but not found")
        if (existing.sku, existing.quantity) != (request.sku, request.quantity):
            raise PermanentWholesalerError(
                f"nexway: {request.reference} was used for another order "
                f"({existing.quantity} x {existing.sku})", status=status, code=str(ALREADY_CREATED))
        return existing

    def _fetch(self, reference: str, request: SupplierOrderRequest | None) -> SupplierOrder | None:
        return with_retries(self.retry, f"nexway fetch {reference}",
                            lambda: self._fetch_once(reference, request))

    def _fetch_once(self, reference: str,
                    request: SupplierOrderRequest | None) -> SupplierOrder | None:
        answer = self._send("GET", ORDER + quote(reference, safe=""))
        code, doc = _read(answer, "order look-up")
        if code == NOT_FOUND:
            return None
        if code not in (OK, ALREADY_CANCELLED):
            raise _error(code, doc, "order look-up", status=answer.status)
        return _order(doc, reference, request)

    def _subscription_once(self, subscription_id: str) -> SupplierSubscription:
        answer = self._send("GET", SUBSCRIPTION + quote(subscription_id, safe=""))
        code, doc = _read(answer, "subscription look-up")
        if code != OK:  # 1010 too: a subscription we recorded that Nexway does not know
            raise _error(code, doc, "subscription look-up", status=answer.status)
        return _subscription(doc, subscription_id)

    def _send(self, method: str, path: str, body: bytes | None = None) -> Answer:
        """Send once, with the JWT when it is configured (fetched again once on a 401)."""
        if self.token_client is None:
            return self.client.send(method, path, body=body,
                                    content_type="application/json" if body else None)
        for fresh in (False, True):
            self.client.session.headers["Authorization"] = f"Bearer {self._access_token(fresh)}"
            answer = self.client.send(method, path, body=body,
                                      content_type="application/json" if body else None)
            if answer.status != 401:
                break
        return answer

    def _access_token(self, fresh: bool) -> str:
        """The process's JWT for these credentials, fetched when there is none, when it is
        about to expire, or when fresh (the last one was refused)."""
        with _tokens_lock:
            cached = _tokens.get(self._token_key)
        if fresh or cached is None or time.monotonic() >= cached[1]:
            assert self.token_client is not None
            body = json.dumps({"clientSecret": self.client_secret, "realmName": self.realm,
                               "grantType": "client_credentials"}).encode()
            answer = self.token_client.send("POST", TOKENS, body=body,
                                            content_type="application/json")
            if answer.status != 200:
                raise PermanentWholesalerError(f"nexway refused a token ({answer.status})",
                                               status=answer.status, code="token")
            doc = _decode(answer.body)
            token = require_str(doc.get("access_token"), "access_token")
            ttl = require_int(doc.get("expires_in"), "expires_in", minimum=1)
            cached = (token, time.monotonic() + ttl - min(30, ttl // 5))
            with _tokens_lock:
                _tokens[self._token_key] = cached
        return cached[0]


def _is_json(answer: Answer) -> bool:
    return answer.content_type.split(";")[0].strip().lower() == "application/json"


def _read(answer: Answer, what: str) -> tuple[int, dict[str, Any]]:
    """Return the responseCode and the document of an answer below 500.

    responseCode decides, whatever the HTTP status (Connect's statuses for its error codes are
    not documented); an HTTP error without a readable responseCode is a permanent error.
    """
    if not (200 <= answer.status < 300 or 400 <= answer.status < 500):
        raise MalformedAnswer(f"nexway {what}: answered {answer.status} where it should not")
    failed = answer.status >= 400
    try:
        if not _is_json(answer):
            raise MalformedAnswer(f"nexway {what}: answered {answer.content_type!r}, not JSON")
        doc = _decode(answer.body)
        code = require_int(doc.get("responseCode"), "responseCode")
    except MalformedAnswer:
        if failed:
            raise PermanentWholesalerError(f"nexway {what}: answered {answer.status}",
                                           status=answer.status) from None
        raise
    if code == OK and failed:
        raise MalformedAnswer(f"nexway {what}: HTTP {answer.status} with responseCode 0")
    return code, doc


def _error(code: int, doc: Mapping[str, Any], what: str, *, status: int | None = None,
           maybe_applied: bool = False) -> WholesalerError:
    """Turn a responseCode other than 0 into our error."""
    message = doc.get("responseMessage")
    text = f"nexway {what}: responseCode {code}"
    if isinstance(message, str) and message.strip():
        text += f" ({message.strip()[:200]})"
    if code in INTERNAL_ERROR_CODES:
        return TemporaryWholesalerError(text, status=status, code=str(code),
                                        maybe_applied=maybe_applied)
    if code in OUT_OF_STOCK_CODES and what == "order":
        return OutOfStock(text, status=status, code=str(code))
    if code in UNKNOWN_PRODUCT_CODES and what == "order":
        return UnknownSku(text, status=status, code=str(code))
    return PermanentWholesalerError(text, status=status, code=str(code))


def _same_reference(doc: Mapping[str, Any], reference: str) -> None:
    if require_str(doc.get("partnerOrderNumber"), "partnerOrderNumber") != reference:
        raise MalformedAnswer("partnerOrderNumber: the answer is about another order")


def _stock(doc: Mapping[str, Any], sku: str) -> StockInfo:
    """Read the productStatus entry for sku: 100 enough, 200 almost out, 300 out of stock.

    Nexway gives a status, not a count: without the `quantity` extension (ASSUMED, ours; the
    simulator sends it) "enough" counts as MAX_QUANTITY units and "almost out" as one.
    """
    entries = doc.get("productStatus")
    if not isinstance(entries, list):
        raise MalformedAnswer("productStatus: expected a list")
    mine = [e for e in entries if isinstance(e, dict) and str(e.get("productRef")) == sku]
    if len(mine) != 1 or len(entries) != 1:
        raise MalformedAnswer(f"productStatus: expected one entry for {sku}")
    entry = mine[0]
    if isinstance(entry.get("productRef"), bool):
        raise MalformedAnswer("productStatus[0].productRef: a boolean")
    code = require_int(entry.get("responseCode"), "productStatus[0].responseCode")
    if code in UNKNOWN_PRODUCT_STOCK_CODES:
        raise UnknownSku(f"nexway stock: {sku} is not in the catalogue (responseCode {code})",
                         code=str(code))
    if code != OK:
        raise _error(code, entry, "stock")
    status = entry.get("status")
    if status not in (STOCK_ENOUGH, STOCK_ALMOST_OUT, STOCK_OUT) or isinstance(status, bool):
        raise MalformedAnswer(f"productStatus[0].status: unknown stock status {status!r}")
    counted = {STOCK_ENOUGH: MAX_QUANTITY, STOCK_ALMOST_OUT: 1, STOCK_OUT: 0}[status]
    quantity = entry.get("quantity", counted)
    if status == STOCK_OUT and quantity != 0:
        raise MalformedAnswer("productStatus[0]: out of stock with units left")
    return make_stock(sku=sku, available=status != STOCK_OUT, quantity=quantity,
                      expected_sku=sku)


def _order(doc: Mapping[str, Any], reference: str | None,
           request: SupplierOrderRequest | None) -> SupplierOrder:
    """Read a Connect order document strictly; keys only from a wholly delivered order.

    Status (ASSUMED mapping, Connect documents the fields, not the states): order responseCode
    1011 is cancelled; each lineItem is one unit: responseCode 0 with one serial is delivered,
    1051 without serial is still to come, any other code failed (responseMessage says why).
    """
    code = require_int(doc.get("responseCode"), "responseCode")
    if code not in (OK, ALREADY_CANCELLED):
        raise MalformedAnswer(f"responseCode {code} in an order document")
    order_number = require_int(doc.get("orderNumber"), "orderNumber", minimum=1)
    lines = doc.get("orderLines")
    if not isinstance(lines, list) or len(lines) != 1 or not isinstance(lines[0], dict):
        raise MalformedAnswer("orderLines: expected exactly one line (we order one product)")
    line = lines[0]
    ref = line.get("productRef")
    if isinstance(ref, bool) or not isinstance(ref, (int, str)) or str(ref) == "":
        raise MalformedAnswer("orderLines[0].productRef: expected a number or a string")
    require_int(line.get("responseCode"), "orderLines[0].responseCode")
    units = line.get("lineItems")
    if not isinstance(units, list) or not units:
        raise MalformedAnswer("orderLines[0].lineItems: expected one item per unit")
    if "quantity" in line and require_int(line["quantity"], "orderLines[0].quantity") != len(units):
        raise MalformedAnswer("orderLines[0]: quantity and lineItems disagree")
    delivered: list[tuple[int, str]] = []
    failures: list[str] = []
    pending = 0
    subscription_ids: set[str | None] = set()
    for index, unit in enumerate(units):
        name = f"orderLines[0].lineItems[{index}]"
        if not isinstance(unit, dict):
            raise MalformedAnswer(f"{name}: expected an object")
        named = unit.get("subscriptionId")
        subscription_ids.add(None if named is None else require_id(named,
                                                                   f"{name}.subscriptionId"))
        unit_code = require_int(unit.get("responseCode"), f"{name}.responseCode")
        serials = unit.get("serials", [])
        if not isinstance(serials, list):
            raise MalformedAnswer(f"{name}.serials: expected a list")
        if unit_code != OK:
            if serials:
                raise MalformedAnswer(f"{name}: a serial on a unit not delivered")
            if unit_code == LICENCES_NOT_AVAILABLE:
                pending += 1
            else:
                message = unit.get("responseMessage")
                failures.append(message if isinstance(message, str) and message.strip()
                                else f"responseCode {unit_code}")
            continue
        if len(serials) != 1 or not isinstance(serials[0], dict):
            raise MalformedAnswer(f"{name}.serials: expected exactly one serial")
        delivered.append((index, _serial(serials[0], f"{name}.serials[0]")))
    items: tuple[DeliveredItem, ...] = ()
    if delivered:
        files = line.get("files")
        if not isinstance(files, list) or not files or not isinstance(files[0], dict):
            raise MalformedAnswer("orderLines[0].files: a delivered line without download")
        url = parse_url(files[0].get("url"), "orderLines[0].files[0].url")
        for position, file in enumerate(files[1:], start=1):
            if not isinstance(file, dict):
                raise MalformedAnswer(f"orderLines[0].files[{position}]: expected an object")
            parse_url(file.get("url"), f"orderLines[0].files[{position}].url")
        expires = parse_date_or_datetime(line.get("dateEndDownload"),
                                         "orderLines[0].dateEndDownload")
        checked = tuple(make_item(key, url, expires.isoformat(), index)
                        for index, key in delivered)
        keys = [item.product_key for item in checked]
        if len(set(keys)) != len(keys):
            raise MalformedAnswer("items: the same product key appears twice")
        if len(checked) == len(units):
            items = checked
    if code == ALREADY_CANCELLED:
        status, items = SupplierOrderStatus.CANCELLED, ()
    elif failures:
        status, items = SupplierOrderStatus.FAILED, ()
    elif pending:
        status = SupplierOrderStatus.ACCEPTED
    else:
        status = SupplierOrderStatus.DELIVERED
    error = None
    if status is SupplierOrderStatus.FAILED:
        error = f"{len(failures)} of {len(units)} units not delivered: {failures[0]}"[:500]
    # ASSUMED: one subscription per order line (its units are its seats), every unit naming it;
    # a perpetual licence's units carry none (null or absent).
    if len(subscription_ids) != 1:
        raise MalformedAnswer("orderLines[0].lineItems: units of one line name different "
                              "subscriptions")
    return make_order(
        reference=doc.get("partnerOrderNumber"), supplier_order_id=str(order_number),
        status=status, sku=str(ref), quantity=len(units), items=items, error=error,
        subscription_id=subscription_ids.pop(),
        expected_reference=reference, expected_sku=request.sku if request else None,
        expected_quantity=request.quantity if request else None,
    )


def _subscription(doc: Mapping[str, Any], subscription_id: str) -> SupplierSubscription:
    """Read the Subscription object (Nexway's, as its subscription notifications carry it):
    id, lifecycle {anniversaryDate, generation, status}; quantity (the seats) is ASSUMED."""
    sub = doc.get("subscription")
    if not isinstance(sub, dict):
        raise MalformedAnswer("subscription: expected an object")
    lifecycle = sub.get("lifecycle")
    if not isinstance(lifecycle, dict):
        raise MalformedAnswer("subscription.lifecycle: expected an object")
    word = require_str(lifecycle.get("status"), "subscription.lifecycle.status")
    status = LIFECYCLE_STATUSES.get(word.lower())
    if status is None:
        raise MalformedAnswer(f"subscription.lifecycle.status: unknown status {word!r}")
    require_int(lifecycle.get("generation"), "subscription.lifecycle.generation")
    anniversary = lifecycle.get("anniversaryDate")
    return make_subscription(
        subscription_id=sub.get("id"), status=status, seats=sub.get("quantity"),
        paid_until=None if anniversary is None else parse_date_or_datetime(
            anniversary, "subscription.lifecycle.anniversaryDate"),
        expected_id=subscription_id)


def _serial(serial: Mapping[str, Any], name: str) -> str:
    """Return a serial's key: data as is, or base64-decoded when encoding says so (ASSUMED)."""
    data = serial.get("data")
    encoding = serial.get("encoding") or "plain"
    if not isinstance(data, str) or not isinstance(encoding, str):
        raise MalformedAnswer(f"{name}: data and encoding must be strings")
    if encoding.lower() in ("plain", "text", "none"):
        return data
    if encoding.lower() == "base64":
        charset = serial.get("charset") or "utf-8"
        try:
            return base64.b64decode(data, validate=True).decode(str(charset)).strip()
        except (binascii.Error, LookupError, UnicodeDecodeError, ValueError) as exc:
            raise MalformedAnswer(f"{name}: not decodable as {encoding}/{charset}") from exc
    raise MalformedAnswer(f"{name}: unknown encoding {encoding!r}")


def _decode(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedAnswer("nexway: the body is not JSON") from exc
    if not isinstance(data, dict):
        raise MalformedAnswer("nexway: the body is not a JSON object")
    return data
