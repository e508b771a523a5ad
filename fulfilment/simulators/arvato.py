"""An Arvato simulator: XML API with basic auth; the order answer carries the keys."""

from __future__ import annotations

import base64
import hmac
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from xml.etree.ElementTree import Element, ParseError, SubElement, tostring

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from fulfilment.simulators.common import DEFAULT_CONFIG, Route, SimError, Simulator

REFERENCE_RE = re.compile(r"[A-Za-z0-9._:-]{1,64}")
REF = r"/api/orders/([^/]+)"
SUBSCRIPTION = r"/api/subscriptions/([^/]+)"
ORDER_TAGS = {"reference": "reference", "order_id": "orderId", "status": "status", "sku": "sku",
              "quantity": "quantity", "error": "error", "created_at": "createdAt",
              "subscription_id": "subscriptionId"}
SUBSCRIPTION_TAGS = {"subscription_id": "subscriptionId", "status": "status", "seats": "seats",
                     "paid_until": "paidUntil", "generation": "generation",
                     "created_at": "createdAt"}
ITEM_TAGS = {"product_key": "productKey", "download_url": "downloadUrl",
             "download_expires_at": "downloadExpiresAt"}

ARVATO_DEFAULTS: dict[str, Any] = DEFAULT_CONFIG | {"download_validity_days": 30}


class ArvatoSimulator(Simulator):
    """Behave like Arvato: synchronous orders in XML, basic auth, upper-case codes."""

    name = "arvato"
    sku_pattern = re.compile(r"AR-[A-Z0-9][A-Z0-9-]{0,58}")
    order_prefix = "AVO"
    content_type = "application/xml; charset=utf-8"
    defaults = ARVATO_DEFAULTS

    def __init__(self, *, username: str, password: str):
        credentials = base64.b64encode(f"{username}:{password}".encode()).decode()
        self.expected_authorization = f"Basic {credentials}"
        super().__init__()

    def routes(self) -> list[Route]:
        """Return the Arvato API routes."""
        return [
            Route("GET", re.compile(r"/api/products/([^/]+)/stock"), "stock", self.stock),
            Route("POST", re.compile(r"/api/orders"), "create_order", self.create_order),
            Route("GET", re.compile(REF), "get_order", self.get_order),
            Route("POST", re.compile(REF + "/cancel"), "cancel", self.cancel_order),
            Route("POST", re.compile(REF + "/replacements"), "replace", self.replace_key),
            Route("GET", re.compile(SUBSCRIPTION), "get_subscription", self.get_subscription),
            Route("POST", re.compile(SUBSCRIPTION + "/renewals"), "renew_subscription",
                  self.renew_subscription),
            Route("POST", re.compile(SUBSCRIPTION + "/changes"), "change_subscription",
                  self.change_subscription),
            Route("POST", re.compile(SUBSCRIPTION + "/cancel"), "cancel_subscription",
                  self.cancel_subscription),
        ]

    def authenticate(self, headers: Mapping[str, str]) -> bool:
        """Check HTTP basic credentials in constant time."""
        given = headers.get("authorization", "")
        return hmac.compare_digest(given.encode(), self.expected_authorization.encode())

    def render(self, kind: str, payload: dict[str, Any]) -> bytes:
        """Serialise as XML: <order>, <stock> or <error>, camelCase tags, upper-case words."""
        if kind == "error":
            root = Element("error")
            SubElement(root, "code").text = payload["error"]["code"].upper()
            SubElement(root, "message").text = payload["error"]["message"]
        elif kind == "stock":
            root = Element("stock")
            for name, value in payload.items():
                SubElement(root, name).text = _word(value)
        elif kind == "subscription":
            root = Element("subscription")
            for name, tag in SUBSCRIPTION_TAGS.items():
                if name in payload:
                    value = payload[name]
                    SubElement(root, tag).text = value.upper() if name == "status" else _word(value)
        else:
            root = Element("order")
            for name, tag in ORDER_TAGS.items():
                if name in payload and payload[name] is not None:
                    value = payload[name]
                    SubElement(root, tag).text = value.upper() if name == "status" else _word(value)
            items = SubElement(root, "items")
            for entry in payload.get("items", []):
                item = SubElement(items, "item")
                for name, tag in ITEM_TAGS.items():
                    SubElement(item, tag).text = _word(entry.get(name))
        return tostring(root, encoding="utf-8", xml_declaration=True)

    def stock(self, sku: str, *, body: bytes) -> tuple[int, str, dict[str, Any]]:
        """GET /api/products/{sku}/stock."""
        return 200, "stock", self.stock_payload(sku)

    def create_order(self, *, body: bytes) -> tuple[int, str, dict[str, Any]]:
        """POST /api/orders: 201 with keys for a new purchase, 200 and the same keys on replay."""
        root = _xml(body, "orderRequest")
        reference = _reference(root)
        sku = (root.findtext("sku") or "").strip()
        quantity = (root.findtext("quantity") or "").strip()
        if not sku:
            raise SimError(400, "invalid_request", "sku is required")
        if not quantity.isdigit() or not 1 <= int(quantity) <= 100:
            raise SimError(400, "invalid_request", "quantity: an integer from 1 to 100")
        with self.lock:
            order, new = self.create(reference, sku, int(quantity), None)
            self.deliver(order)
            return (201 if new else 200), "order", self.present_order(order)

    def get_order(self, reference: str, *, body: bytes) -> tuple[int, str, dict[str, Any]]:
        """GET /api/orders/{reference}."""
        with self.lock:
            return 200, "order", self.present_order(self.find(reference))

    def cancel_order(self, reference: str, *, body: bytes) -> tuple[int, str, dict[str, Any]]:
        """POST /api/orders/{reference}/cancel."""
        with self.lock:
            return 200, "order", self.present_order(self.cancel(reference))

    def replace_key(self, reference: str, *, body: bytes) -> tuple[int, str, dict[str, Any]]:
        """POST /api/orders/{reference}/replacements with <replacementRequest><productKey>."""
        key = (_xml(body, "replacementRequest").findtext("productKey") or "").strip()
        with self.lock:
            return 200, "order", self.present_order(self.replace(reference, key))


    def get_subscription(self, subscription_id: str, *,
                         body: bytes) -> tuple[int, str, dict[str, Any]]:
        """GET /api/subscriptions/{id}: the subscription as it stands."""
        with self.lock:
            return 200, "subscription", self.present_subscription(
                self.find_subscription(subscription_id))

    def renew_subscription(self, subscription_id: str, *,
                           body: bytes) -> tuple[int, str, dict[str, Any]]:
        """POST /api/subscriptions/{id}/renewals <renewalRequest><reference/><seats/><until/>:
        201 for the term provisioned, 200 for a reference that renewed it already."""
        root = _xml(body, "renewalRequest")
        reference = _reference(root)
        seats = _seats(root)
        until = _until(root)
        with self.lock:
            sub, new = self.renew(subscription_id, reference, seats, until)
            return (201 if new else 200), "subscription", self.present_subscription(sub)

    def change_subscription(self, subscription_id: str, *,
                            body: bytes) -> tuple[int, str, dict[str, Any]]:
        """POST /api/subscriptions/{id}/changes <changeRequest><reference/><seats/>."""
        root = _xml(body, "changeRequest")
        reference, seats = _reference(root), _seats(root)
        with self.lock:
            sub, new = self.change_seats(subscription_id, reference, seats)
            return (201 if new else 200), "subscription", self.present_subscription(sub)

    def cancel_subscription(self, subscription_id: str, *,
                            body: bytes) -> tuple[int, str, dict[str, Any]]:
        """POST /api/subscriptions/{id}/cancel: no renewal; repeating it changes nothing."""
        with self.lock:
            sub, _ = self.stop_renewal(subscription_id)
            return 200, "subscription", self.present_subscription(sub)


def _reference(root: Element) -> str:
    reference = (root.findtext("reference") or "").strip()
    if not REFERENCE_RE.fullmatch(reference):
        raise SimError(400, "invalid_request", "reference: 1 to 64 of A-Z a-z 0-9 . _ : -")
    return reference


def _seats(root: Element) -> int:
    seats = (root.findtext("seats") or "").strip()
    if not seats.isascii() or not seats.isdigit() or not 1 <= int(seats) <= 1000:
        raise SimError(400, "invalid_request", "seats: an integer from 1 to 1000")
    return int(seats)


def _until(root: Element) -> datetime:
    text = (root.findtext("until") or "").strip()
    try:
        until = datetime.fromisoformat(text)
    except ValueError:
        until = None
    if until is None or until.tzinfo is None:
        raise SimError(400, "invalid_request", "until: ISO 8601 with its offset")
    return until


def _word(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _xml(body: bytes, root_tag: str) -> Element:
    try:
        root: Element = fromstring(body)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise SimError(400, "invalid_xml", "the body is not well-formed XML") from exc
    if root.tag != root_tag:
        raise SimError(400, "invalid_request", f"expected <{root_tag}>")
    return root
