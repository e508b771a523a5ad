"""The Arvato adapter: XML over HTTP with basic auth; synchronous delivery in the order answer."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote
from xml.etree.ElementTree import Element, ParseError, SubElement, tostring

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from fulfilment.wholesalers.base import (
    MalformedAnswer,
    OutOfStock,
    PermanentWholesalerError,
    StockInfo,
    SupplierOrder,
    SupplierOrderRequest,
    SupplierSubscription,
    SupplierSubscriptionStatus,
    UnknownSku,
    UnsupportedOperation,
)
from fulfilment.wholesalers.http import Answer, HttpAdapter, HttpClient, RetryPolicy, with_retries
from fulfilment.wholesalers.keys import is_valid_product_key
from fulfilment.wholesalers.validation import (
    check_renewal,
    check_replacement,
    check_seats,
    check_subscription_request,
    make_item,
    make_order,
    make_stock,
    make_subscription,
    parse_datetime,
    parse_int,
)

XML_TYPES = ("application/xml", "text/xml")


class ArvatoAdapter(HttpAdapter):
    """Talk to Arvato: stock, order (answered with keys), fetch, cancel, replace, subscriptions."""

    code = "arvato"
    supports_callbacks = False
    supports_extension = False

    def __init__(self, *, url: str, username: str, password: str, connect_timeout: float,
                 read_timeout: float, retry: RetryPolicy | None = None):
        client = HttpClient(url, connect_timeout=connect_timeout, read_timeout=read_timeout,
                            headers={"Accept": "application/xml"}, auth=(username, password))
        super().__init__(client, retry or RetryPolicy())

    def check_stock(self, sku: str) -> StockInfo:
        """Ask Arvato for the SKU's stock."""
        path = f"/api/products/{quote(sku, safe='')}/stock"

        def attempt() -> StockInfo:
            root = _xml(self.client.send("GET", path), "stock", ok=(200,))
            return make_stock(sku=_text(root, "sku"), available=_text(root, "available"),
                              quantity=parse_int(_text(root, "quantity"), "quantity"),
                              expected_sku=sku)

        return with_retries(self.retry, f"arvato stock {sku}", attempt)

    def place_order(self, request: SupplierOrderRequest) -> SupplierOrder:
        """Buy under our reference; the answer carries the keys and download addresses."""
        body = _document("orderRequest", reference=request.reference, sku=request.sku,
                         quantity=str(request.quantity))

        def attempt() -> SupplierOrder:
            answer = self.client.send("POST", "/api/orders", body=body,
                                      content_type="application/xml")
            return _order(_xml(answer, "order", ok=(200, 201)), request.reference, request)

        def recover() -> SupplierOrder | None:
            return self._fetch_once(request.reference, request)

        return with_retries(self.retry, f"arvato order {request.reference}", attempt,
                            recover=recover)

    def fetch_order(self, reference: str) -> SupplierOrder | None:
        """Read back the order bought under reference."""
        return with_retries(self.retry, f"arvato fetch {reference}",
                            lambda: self._fetch_once(reference, None))

    def cancel(self, reference: str) -> None:
        """Cancel the order; a reference Arvato does not know is already cancelled."""

        def attempt() -> None:
            answer = self.client.send("POST", _order_path(reference) + "/cancel")
            if answer.status == 404 and _error_code(answer) == "ORDER_NOT_FOUND":
                return None
            _order(_xml(answer, "order", ok=(200,)), reference, None)
            return None

        with_retries(self.retry, f"arvato cancel {reference}", attempt)

    def request_replacement(self, reference: str, product_key: str) -> SupplierOrder:
        """Ask for a new key in place of one reported already activated."""
        if not is_valid_product_key(product_key):
            raise ValueError("product_key is not a 5x5 product key")
        body = _document("replacementRequest", productKey=product_key)

        def attempt() -> SupplierOrder:
            answer = self.client.send("POST", _order_path(reference) + "/replacements",
                                      body=body, content_type="application/xml")
            order = _order(_xml(answer, "order", ok=(200,)), reference, None)
            return check_replacement(order, product_key)

        return with_retries(self.retry, f"arvato replacement {reference}", attempt)

    # Subscriptions (ASSUMED, like the rest of this protocol: docs/wholesalers.md). Every write
    # carries our reference and Arvato answers a known reference with what it did the first
    # time, so a retry after a timeout or a 5xx resends the same request and provisions nothing
    # twice.

    def get_subscription(self, subscription_id: str) -> SupplierSubscription:
        """Read the subscription as Arvato holds it."""
        check_subscription_request(subscription_id, None, None)

        def attempt() -> SupplierSubscription:
            answer = self.client.send("GET", _subscription_path(subscription_id))
            return _subscription(_xml(answer, "subscription", ok=(200,)), subscription_id)

        return with_retries(self.retry, f"arvato subscription {subscription_id}", attempt)

    def renew_subscription(self, subscription_id: str, *, reference: str, seats: int,
                           until: datetime) -> SupplierSubscription:
        """Provision the term to until for seats users; a cancelled or ended subscription is
        refused (409 SUBSCRIPTION_CANCELLED / SUBSCRIPTION_ENDED, a permanent error)."""
        check_subscription_request(subscription_id, reference, seats, until)
        body = _document("renewalRequest", reference=reference, seats=str(seats),
                         until=until.astimezone(UTC).isoformat(timespec="seconds"))

        def attempt() -> SupplierSubscription:
            answer = self.client.send("POST", _subscription_path(subscription_id) + "/renewals",
                                      body=body, content_type="application/xml")
            found = _subscription(_xml(answer, "subscription", ok=(200, 201)), subscription_id)
            return check_renewal(found, seats, until)

        return with_retries(self.retry, f"arvato renewal {subscription_id} {reference}", attempt)

    def change_subscription(self, subscription_id: str, *, reference: str,
                            seats: int) -> SupplierSubscription:
        """Set the number of users for the rest of the term, once per reference."""
        check_subscription_request(subscription_id, reference, seats)
        body = _document("changeRequest", reference=reference, seats=str(seats))

        def attempt() -> SupplierSubscription:
            answer = self.client.send("POST", _subscription_path(subscription_id) + "/changes",
                                      body=body, content_type="application/xml")
            found = _subscription(_xml(answer, "subscription", ok=(200, 201)), subscription_id)
            return check_seats(found, seats)

        return with_retries(self.retry, f"arvato change {subscription_id} {reference}", attempt)

    def cancel_subscription(self, subscription_id: str) -> SupplierSubscription:
        """Stop the renewal; the licence runs to the end of the paid term. Repeating is harmless."""
        check_subscription_request(subscription_id, None, None)

        def attempt() -> SupplierSubscription:
            answer = self.client.send("POST", _subscription_path(subscription_id) + "/cancel")
            found = _subscription(_xml(answer, "subscription", ok=(200,)), subscription_id)
            if found.status is SupplierSubscriptionStatus.ACTIVE:
                raise MalformedAnswer("arvato cancelled a subscription that is still active")
            return found

        return with_retries(self.retry, f"arvato cancel subscription {subscription_id}", attempt)

    def extend_download(self, reference: str) -> SupplierOrder:
        """Refuse: Arvato's download links cannot be extended."""
        raise UnsupportedOperation("arvato does not extend download links")

    def handle_callback(self, body: bytes, headers: Mapping[str, str]) -> SupplierOrder:
        """Refuse: Arvato answers synchronously and sends no callbacks."""
        raise UnsupportedOperation("arvato sends no callbacks")

    def _fetch_once(self, reference: str,
                    request: SupplierOrderRequest | None) -> SupplierOrder | None:
        answer = self.client.send("GET", _order_path(reference))
        if answer.status == 404 and _error_code(answer) == "ORDER_NOT_FOUND":
            return None
        return _order(_xml(answer, "order", ok=(200,)), reference, request)


def _order_path(reference: str) -> str:
    return "/api/orders/" + quote(reference, safe="")


def _subscription_path(subscription_id: str) -> str:
    return "/api/subscriptions/" + quote(subscription_id, safe="")


def _subscription(root: Element, subscription_id: str) -> SupplierSubscription:
    word = _text(root, "status")
    try:
        status = SupplierSubscriptionStatus(word.lower())
    except ValueError as exc:
        raise MalformedAnswer(f"<subscription>: unknown status {word!r}") from exc
    paid_until = _text(root, "paidUntil", required=False)
    return make_subscription(
        subscription_id=_text(root, "subscriptionId"), status=status,
        seats=parse_int(_text(root, "seats"), "seats", minimum=1),
        paid_until=parse_datetime(paid_until, "paidUntil") if paid_until else None,
        expected_id=subscription_id)


def _document(root: str, **fields: str) -> bytes:
    element = Element(root)
    for name, value in fields.items():
        SubElement(element, name).text = value
    return tostring(element, encoding="utf-8", xml_declaration=True)


def _parse(body: bytes) -> Element:
    try:
        root: Element = fromstring(body)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise MalformedAnswer("arvato: the body is not well-formed XML") from exc
    return root


def _xml(answer: Answer, root_tag: str, *, ok: tuple[int, ...]) -> Element:
    if answer.status not in ok:
        raise _error(answer)
    if answer.content_type.split(";")[0].strip().lower() not in XML_TYPES:
        raise MalformedAnswer(f"arvato answered {answer.content_type!r}, not XML")
    root = _parse(answer.body)
    if root.tag != root_tag:
        raise MalformedAnswer(f"arvato: expected <{root_tag}>, got <{root.tag}>")
    return root


def _text(parent: Element, tag: str, *, required: bool = True) -> str:
    found = parent.findall(tag)
    if len(found) > 1:
        raise MalformedAnswer(f"<{parent.tag}>: more than one <{tag}>")
    text = (found[0].text or "").strip() if found else ""
    if required and not text:
        raise MalformedAnswer(f"<{parent.tag}>: missing or empty <{tag}>")
    return text


def _order(root: Element, reference: str | None,
           request: SupplierOrderRequest | None) -> SupplierOrder:
    containers = root.findall("items")
    if len(containers) != 1:
        raise MalformedAnswer("<order>: expected exactly one <items>")
    items = []
    for index, item in enumerate(containers[0]):
        if item.tag != "item":
            raise MalformedAnswer(f"<items>: unexpected <{item.tag}>")
        items.append(make_item(_text(item, "productKey"), _text(item, "downloadUrl"),
                               _text(item, "downloadExpiresAt"), index))
    return make_order(
        reference=_text(root, "reference"), supplier_order_id=_text(root, "orderId"),
        status=_text(root, "status"), sku=_text(root, "sku"),
        quantity=parse_int(_text(root, "quantity"), "quantity", minimum=1),
        items=tuple(items), error=_text(root, "error", required=False) or None,
        subscription_id=_text(root, "subscriptionId", required=False) or None,
        expected_reference=reference, expected_sku=request.sku if request else None,
        expected_quantity=request.quantity if request else None,
    )


def _error_code(answer: Answer) -> str | None:
    try:
        root = fromstring(answer.body)
    except (ParseError, DefusedXmlException, ValueError):
        return None
    code = root.findtext("code") if root.tag == "error" else None
    return code.strip() if code else None


def _error(answer: Answer) -> Exception:
    code = _error_code(answer)
    message = f"arvato answered {answer.status} ({code or 'no error code'})"
    if answer.status < 400:
        return MalformedAnswer(message + " where it should not")
    if code == "UNKNOWN_SKU":
        return UnknownSku(message, status=answer.status, code=code)
    if code == "OUT_OF_STOCK":
        return OutOfStock(message, status=answer.status, code=code)
    if code in ("SUBSCRIPTION_CANCELLED", "SUBSCRIPTION_ENDED"):
        message += ": it does not renew"
    return PermanentWholesalerError(message, status=answer.status, code=code)
