"""The Nexway adapter: JSON over HTTP with an API key; asynchronous delivery by signed callback."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from fulfilment.wholesalers.base import (
    BadCallbackSignature,
    MalformedAnswer,
    OutOfStock,
    PermanentWholesalerError,
    StockInfo,
    SupplierOrder,
    SupplierOrderRequest,
    UnknownSku,
)
from fulfilment.wholesalers.http import Answer, HttpAdapter, HttpClient, RetryPolicy, with_retries
from fulfilment.wholesalers.keys import is_valid_product_key
from fulfilment.wholesalers.validation import (
    check_replacement,
    make_item,
    make_order,
    make_stock,
)

API_KEY_HEADER = "X-Api-Key"
SIGNATURE_HEADER = "Nexway-Signature"
CALLBACK_TOLERANCE_SECONDS = 300
DOWNLOAD_VALIDITY_DAYS = 21


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


class NexwayAdapter(HttpAdapter):
    """Talk to Nexway: stock check, order (202 accepted), polling, cancel, replace, extend."""

    code = "nexway"
    supports_callbacks = True
    supports_extension = True

    def __init__(self, *, url: str, api_key: str, callback_secret: str, connect_timeout: float,
                 read_timeout: float, retry: RetryPolicy | None = None):
        client = HttpClient(url, connect_timeout=connect_timeout, read_timeout=read_timeout,
                            headers={API_KEY_HEADER: api_key, "Accept": "application/json"})
        super().__init__(client, retry or RetryPolicy())
        self.callback_secret = callback_secret

    def check_stock(self, sku: str) -> StockInfo:
        """Ask Nexway for the SKU's stock."""
        path = "/v1/stock/" + quote(sku, safe="")

        def attempt() -> StockInfo:
            data = self._json(self.client.send("GET", path), ok=(200,))
            return make_stock(sku=data.get("sku"), available=data.get("available"),
                              quantity=data.get("quantity"), expected_sku=sku)

        return with_retries(self.retry, f"nexway stock {sku}", attempt)

    def place_order(self, request: SupplierOrderRequest) -> SupplierOrder:
        """Check stock, then buy under our reference; an order found after a timeout is kept."""
        stock = self.check_stock(request.sku)
        if not stock.available or stock.quantity < request.quantity:
            existing = self._fetch(request.reference, request)
            if existing is not None:
                return existing
            raise OutOfStock(f"nexway: {stock.quantity} of {request.sku} for {request.quantity}",
                             code="out_of_stock")
        payload = {"reference": request.reference, "sku": request.sku,
                   "quantity": request.quantity, "callback_url": request.callback_url}
        body = json.dumps(payload).encode()

        def attempt() -> SupplierOrder:
            answer = self.client.send("POST", "/v1/orders", body=body,
                                      content_type="application/json")
            return self._order(self._json(answer, ok=(200, 201, 202)), request.reference, request)

        def recover() -> SupplierOrder | None:
            return self._fetch_once(request.reference, request)

        return with_retries(self.retry, f"nexway order {request.reference}", attempt,
                            recover=recover)

    def fetch_order(self, reference: str) -> SupplierOrder | None:
        """Poll the order bought under reference."""
        return self._fetch(reference, None)

    def cancel(self, reference: str) -> None:
        """Cancel the order; a reference Nexway does not know is already cancelled."""

        def attempt() -> None:
            answer = self.client.send("POST", self._order_path(reference) + "/cancel")
            if answer.status == 404:
                return None
            self._order(self._json(answer, ok=(200,)), reference, None)
            return None

        with_retries(self.retry, f"nexway cancel {reference}", attempt)

    def request_replacement(self, reference: str, product_key: str) -> SupplierOrder:
        """Ask for a new key in place of one reported already activated."""
        if not is_valid_product_key(product_key):
            raise ValueError("product_key is not a 5x5 product key")
        body = json.dumps({"product_key": product_key}).encode()

        def attempt() -> SupplierOrder:
            answer = self.client.send("POST", self._order_path(reference) + "/replacements",
                                      body=body, content_type="application/json")
            order = self._order(self._json(answer, ok=(200,)), reference, None)
            return check_replacement(order, product_key)

        return with_retries(self.retry, f"nexway replacement {reference}", attempt)

    def extend_download(self, reference: str) -> SupplierOrder:
        """Extend the order's download links by another 21 days from now."""

        def attempt() -> SupplierOrder:
            answer = self.client.send("POST", self._order_path(reference) + "/extend")
            return self._order(self._json(answer, ok=(200,)), reference, None)

        return with_retries(self.retry, f"nexway extend {reference}", attempt)

    def handle_callback(self, body: bytes, headers: Mapping[str, str]) -> SupplierOrder:
        """Verify the callback's signature and timestamp, then decode the order it carries."""
        lowered = {name.lower(): value for name, value in headers.items()}
        verify_callback(self.callback_secret, body, lowered.get(SIGNATURE_HEADER.lower()))
        return self._order(_decode(body), None, None)

    def _fetch(self, reference: str, request: SupplierOrderRequest | None) -> SupplierOrder | None:
        return with_retries(self.retry, f"nexway fetch {reference}",
                            lambda: self._fetch_once(reference, request))

    def _fetch_once(self, reference: str,
                    request: SupplierOrderRequest | None) -> SupplierOrder | None:
        answer = self.client.send("GET", self._order_path(reference))
        if answer.status == 404 and _error_code(answer) == "order_not_found":
            return None
        return self._order(self._json(answer, ok=(200,)), reference, request)

    @staticmethod
    def _order_path(reference: str) -> str:
        return "/v1/orders/" + quote(reference, safe="")

    @staticmethod
    def _json(answer: Answer, *, ok: tuple[int, ...]) -> dict[str, Any]:
        if answer.status not in ok:
            raise _error(answer)
        if answer.content_type.split(";")[0].strip().lower() != "application/json":
            raise MalformedAnswer(f"nexway answered {answer.content_type!r}, not JSON")
        return _decode(answer.body)

    @staticmethod
    def _order(data: dict[str, Any], reference: str | None,
               request: SupplierOrderRequest | None) -> SupplierOrder:
        raw_items = data.get("items")
        if not isinstance(raw_items, list):
            raise MalformedAnswer("items: expected a list")
        items = []
        for index, raw in enumerate(raw_items):
            if not isinstance(raw, dict):
                raise MalformedAnswer(f"items[{index}]: expected an object")
            items.append(make_item(raw.get("product_key"), raw.get("download_url"),
                                   raw.get("download_expires_at"), index))
        return make_order(
            reference=data.get("reference"), supplier_order_id=data.get("order_id"),
            status=data.get("status"), sku=data.get("sku"), quantity=data.get("quantity"),
            items=tuple(items), error=data.get("error"), expected_reference=reference,
            expected_sku=request.sku if request else None,
            expected_quantity=request.quantity if request else None,
        )


def _decode(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedAnswer("nexway: the body is not JSON") from exc
    if not isinstance(data, dict):
        raise MalformedAnswer("nexway: the body is not a JSON object")
    return data


def _error_code(answer: Answer) -> str | None:
    try:
        error = json.loads(answer.body).get("error", {})
        code = error.get("code") if isinstance(error, dict) else None
    except (ValueError, UnicodeDecodeError, AttributeError):
        return None
    return code if isinstance(code, str) else None


def _error(answer: Answer) -> Exception:
    code = _error_code(answer)
    message = f"nexway answered {answer.status} ({code or 'no error code'})"
    if answer.status < 400:
        return MalformedAnswer(message + " where it should not")
    if code == "unknown_sku":
        return UnknownSku(message, status=answer.status, code=code)
    if code == "out_of_stock":
        return OutOfStock(message, status=answer.status, code=code)
    return PermanentWholesalerError(message, status=answer.status, code=code)
