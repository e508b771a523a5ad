"""Run localstripe on loopback in a background thread, with a small Checkout Session resource
and the Stripe Billing resources of support.localstripe_billing (Prices, Subscriptions,
Invoices, test clocks)."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests
from aiohttp import web

from support.localstripe_billing import billing_routes, test_clock_of

SECRET_KEY = "sk_test_comptoir_localstripe"
SESSION_PREFIX = "checkout.session:"
CHECKOUT_PATH = "/v1/checkout/sessions"
SESSION_PARAMS = frozenset(
    "mode line_items customer_email success_url cancel_url locale client_reference_id metadata"
    " customer_creation payment_intent_data expand".split()
)


def _localstripe() -> tuple[Any, Any, Any, Any]:
    """Import localstripe, whose import registers sync handlers aiohttp deprecates."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", "Bare functions are deprecated", DeprecationWarning, "aiohttp"
        )
        from localstripe import errors, resources, server
    return server, resources.store, errors.UserError, server.get_post_data


def _bad_request(message: str, param: str | None = None) -> Exception:
    """A Stripe-shaped 400 (invalid_request_error) that localstripe's middleware renders."""
    _, _, user_error, _ = _localstripe()
    return user_error(400, message, {"param": param} if param else None)


def _int(value: Any, param: str, minimum: int) -> int:
    """Parse a form-encoded integer the way Stripe does."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise _bad_request(f"Invalid integer: {value}", param) from None
    if number < minimum:
        raise _bad_request(f"{param} must be at least {minimum}", param)
    return number


def _new_session(data: dict[str, Any], base_url: str) -> dict[str, Any]:
    """Validate create parameters and build a Checkout Session in payment mode."""
    unknown = sorted(set(data) - SESSION_PARAMS)
    if unknown:
        raise _bad_request(f"Received unknown parameter: {unknown[0]}", unknown[0])
    if data.get("mode") != "payment":
        raise _bad_request("Only mode=payment is simulated", "mode")
    if not data.get("success_url"):
        raise _bad_request("Missing required param: success_url.", "success_url")
    items, currencies, total = [], set(), 0
    for i, item in enumerate(data.get("line_items") or []):
        price = item.get("price_data") or {}
        name = (price.get("product_data") or {}).get("name")
        if not price.get("currency") or not name:
            message = "price_data needs currency and product_data[name]"
            raise _bad_request(message, f"line_items[{i}]")
        unit = _int(price.get("unit_amount"), f"line_items[{i}][price_data][unit_amount]", 0)
        quantity = _int(item.get("quantity"), f"line_items[{i}][quantity]", 1)
        currencies.add(price["currency"])
        total += unit * quantity
        items.append(
            {
                "object": "item",
                "description": name,
                "quantity": quantity,
                "currency": price["currency"],
                "amount_total": unit * quantity,
                "price": {
                    "object": "price",
                    "currency": price["currency"],
                    "unit_amount": unit,
                    "product_data": {"name": name},
                },
            }
        )
    if not items:
        raise _bad_request("Missing required param: line_items.", "line_items")
    if data.get("customer_creation") not in (None, "always", "if_required"):
        raise _bad_request("customer_creation must be always or if_required", "customer_creation")
    intent_data = data.get("payment_intent_data") or {}
    if set(intent_data) - {"setup_future_usage"} or intent_data.get(
            "setup_future_usage") not in (None, "off_session", "on_session"):
        raise _bad_request("Only payment_intent_data[setup_future_usage] is simulated",
                           "payment_intent_data")
    if len(currencies) != 1:
        raise _bad_request("All line items must share one currency", "line_items")
    session_id = "cs_test_" + secrets.token_hex(12)
    now = int(time.time())
    return {
        "id": session_id,
        "object": "checkout.session",
        "mode": "payment",
        "livemode": False,
        "status": "open",
        "payment_status": "unpaid",
        "payment_intent": None,
        "amount_subtotal": total,
        "amount_total": total,
        "currency": currencies.pop(),
        "customer_email": data.get("customer_email"),
        "locale": data.get("locale"),
        "client_reference_id": data.get("client_reference_id"),
        "metadata": data.get("metadata") or {},
        "success_url": data["success_url"],
        "cancel_url": data.get("cancel_url"),
        "created": now,
        "expires_at": now + 86400,
        "url": f"{base_url}/checkout/pay/{session_id}",
        "customer": None,
        "customer_creation": data.get("customer_creation"),
        "_line_items": items,
        # Stripe saves the card to a new Customer when both are asked (docs.stripe.com, "Save
        # payment details during payment"); the pay switch below does the same.
        "_saves_card": data.get("customer_creation") == "always"
        and intent_data.get("setup_future_usage") == "off_session",
    }


# Stripe's idempotency, which localstripe lacks: the first answer to a key is replayed for the
# same request, and a changed request under the same key is refused (docs.stripe.com, "Idempotent
# requests"). Keyed by API key and Idempotency-Key; cleared with the store.
_replays: dict[tuple[str, str], tuple[str, int, bytes]] = {}


@web.middleware
async def _idempotency(request: web.Request, handler: Any) -> web.StreamResponse:
    key = request.headers.get("Idempotency-Key")
    if request.method != "POST" or not key or request.path.startswith("/_config/"):
        return await handler(request)
    scope = (request.headers.get("Authorization", ""), key)
    fingerprint = hashlib.sha256(request.path.encode() + b"\0" + await request.read()).hexdigest()
    if scope in _replays:
        seen, status, body = _replays[scope]
        if seen != fingerprint:
            return web.json_response({"error": {
                "type": "idempotency_error",
                "message": "Keys for idempotent requests can only be used with the same "
                           "parameters they were first used with."}}, status=400)
        return web.Response(status=status, body=body, content_type="application/json",
                            headers={"Idempotent-Replayed": "true"})
    _, _, user_error, _ = _localstripe()
    try:
        response = await handler(request)
    except user_error as exc:  # localstripe's own error middleware sits outside this one
        response = exc.to_response()
    if response.status < 400 or response.status == 402:  # Stripe keeps no validation failures
        _replays[scope] = (fingerprint, response.status, response.body)
    return response


class LocalStripe:
    """One localstripe app served on 127.0.0.1:<free port> from a daemon thread."""

    _running: LocalStripe | None = None

    def __init__(self) -> None:
        self.url = ""
        self.secret_key = SECRET_KEY
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._saved_dump: Any = None

    def start(self) -> None:
        """Register the Checkout Session routes and serve localstripe on loopback."""
        if LocalStripe._running is not None:
            raise RuntimeError("localstripe keeps global state: only one instance at a time")
        server, store, _, _ = _localstripe()
        _install_checkout_routes(server.app)
        if _idempotency not in server.app.middlewares:  # the app freezes at its first setup
            server.app.middlewares.append(_idempotency)
            server.app.middlewares.append(billing_routes)  # inside: its answers are replayed
        LocalStripe._running = self
        # localstripe pickles its whole store to a fixed /tmp file on every write; we never
        # load it back, and parallel test runs on one machine would race on that file.
        self._saved_dump = store.__dict__.get("dump_to_disk")
        store.dump_to_disk = lambda: None
        store.clear()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind(("127.0.0.1", 0))
            self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
            self._thread.start()
            self._runner = web.AppRunner(
                server.app, access_log=None, handle_signals=False, shutdown_timeout=1
            )
            self._call(self._runner.setup())
            self._call(web.SockSite(self._runner, sock).start())
        except BaseException:
            sock.close()
            self.stop()
            raise

    def stop(self) -> None:
        """Stop serving, join the thread and restore localstripe's store."""
        loop, thread = self._loop, self._thread
        alive = thread is not None and thread.is_alive()
        try:
            if self._runner is not None and alive:
                self._call(self._runner.cleanup())
        finally:
            if loop is not None and thread is not None and alive:
                loop.call_soon_threadsafe(loop.stop)
                thread.join(timeout=5)
            if loop is not None:
                loop.close()
            _, store, _, _ = _localstripe()
            store.clear()
            _replays.clear()
            if self._saved_dump is None:
                store.__dict__.pop("dump_to_disk", None)
            else:
                store.dump_to_disk = self._saved_dump
            LocalStripe._running = None

    def reset(self) -> None:
        """Wipe every object, through localstripe's own endpoint, and the idempotency keys."""
        requests.delete(f"{self.url}/_config/data", timeout=5).raise_for_status()
        _replays.clear()

    def refunds(self) -> list[dict[str, Any]]:
        """Every refund localstripe holds, newest first."""
        return self._get("/v1/refunds")["data"]

    def refund(self, payment_intent: str, amount: int) -> dict[str, Any]:
        """Refund at localstripe directly, as an operator would in Stripe's dashboard."""
        headers = {"Authorization": f"Bearer {self.secret_key}"}
        response = requests.post(f"{self.url}/v1/refunds", headers=headers, timeout=5,
                                 data={"payment_intent": payment_intent, "amount": amount})
        response.raise_for_status()
        return response.json()

    def set_session_state(self, session_id: str, state: str, *, card: str | None = None,
                          test_clock: str | None = None) -> dict[str, Any]:
        """Move a session to paid, processing (completed, money pending) or expired; a paid
        session is paid with the test `card`, and one that saves the card gives it to a new
        Customer on `test_clock`."""
        form = {k: v for k, v in (("card", card), ("test_clock", test_clock)) if v is not None}
        response = requests.post(
            f"{self.url}/_config/checkout/sessions/{session_id}/{state}", data=form, timeout=5
        )
        response.raise_for_status()
        return response.json()

    def create_test_clock(self, frozen_time: int) -> str:
        """A Stripe test clock frozen at `frozen_time` (Unix seconds)."""
        return str(self._post("/v1/test_helpers/test_clocks", {"frozen_time": frozen_time})["id"])

    def advance(self, clock_id: str, frozen_time: int) -> dict[str, Any]:
        """Move the clock forward: renewals and invoice charges due until then happen."""
        return self._post(f"/v1/test_helpers/test_clocks/{clock_id}/advance",
                          {"frozen_time": frozen_time})

    def attach_card(self, customer_id: str, number: str) -> str:
        """A test card given to the customer afterwards (as when the buyer changes card)."""
        method = self._post("/v1/payment_methods", {
            "type": "card", "card[number]": number, "card[exp_month]": "12",
            "card[exp_year]": "2040", "card[cvc]": "123"})
        self._post(f"/v1/payment_methods/{method['id']}/attach", {"customer": customer_id})
        return str(method["id"])

    def update_subscription(self, subscription_id: str, **fields: Any) -> dict[str, Any]:
        return self._post(f"/v1/subscriptions/{subscription_id}", fields)

    def subscription(self, subscription_id: str) -> dict[str, Any]:
        return self._get(f"/v1/subscriptions/{subscription_id}")

    def invoices(self, subscription_id: str) -> list[dict[str, Any]]:
        """The subscription's invoices, newest first."""
        return self._get(f"/v1/invoices?subscription={subscription_id}")["data"]

    @contextmanager
    def webhooks_to(self, url: str, secret: str, events: list[str]) -> Iterator[None]:
        """Send these event types, signed with `secret`, to `url` (localstripe's registry)."""
        from localstripe.webhooks import _webhooks

        hook_id = "hook_" + secrets.token_hex(6)
        response = requests.post(f"{self.url}/_config/webhooks/{hook_id}", timeout=5,
                                 data={"url": url, "secret": secret, "events[]": events})
        response.raise_for_status()
        try:
            yield
        finally:
            _webhooks.pop(hook_id, None)

    def _post(self, path: str, data: dict[str, Any]) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.secret_key}"}
        response = requests.post(self.url + path, headers=headers, data=data, timeout=10)
        response.raise_for_status()
        return response.json()

    def session(self, session_id: str) -> dict[str, Any]:
        """Fetch a session as the API returns it."""
        return self._get(f"/v1/checkout/sessions/{session_id}")

    def line_items(self, session_id: str) -> list[dict[str, Any]]:
        """Fetch a session's line items as the API returns them."""
        return self._get(f"/v1/checkout/sessions/{session_id}/line_items")["data"]

    def _get(self, path: str) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.secret_key}"}
        response = requests.get(self.url + path, headers=headers, timeout=5)
        response.raise_for_status()
        return response.json()

    def _call(self, coroutine: Any) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)


def _install_checkout_routes(app: web.Application) -> None:
    """Add /v1/checkout/sessions and a test-only state switch to localstripe's app, once."""
    if any(r.resource and r.resource.canonical == CHECKOUT_PATH for r in app.router.routes()):
        return
    server, store, user_error, get_post_data = _localstripe()

    def load(request: web.Request) -> dict[str, Any]:
        session = store.get(SESSION_PREFIX + request.match_info["id"])
        if session is None:
            raise user_error(404, "No such checkout.session", {"code": "resource_missing"})
        return session

    def export(session: dict[str, Any]) -> web.Response:
        return server.json_response({k: v for k, v in session.items() if k[0] != "_"})

    async def create(request: web.Request) -> web.Response:
        base_url = LocalStripe._running.url if LocalStripe._running else ""
        session = _new_session(await get_post_data(request) or {}, base_url)
        store[SESSION_PREFIX + session["id"]] = session
        return export(session)

    async def retrieve(request: web.Request) -> web.Response:
        return export(load(request))

    async def line_items(request: web.Request) -> web.Response:
        items = load(request)["_line_items"]
        return server.json_response({"object": "list", "data": items, "has_more": False})

    async def set_state(request: web.Request) -> web.Response:
        """The buyer on the pay page: form fields `card` (a test number, 4242... by default)
        and, for a session that saves the card, `test_clock` (the new Customer's clock)."""
        session, state = load(request), request.match_info["state"]
        form = await get_post_data(request) or {}
        if session["status"] != "open":
            raise user_error(400, f"session is already {session['status']}")
        if state == "expired":
            session["status"] = "expired"
        elif state == "paid":
            session["payment_intent"], session["customer"] = _payment_intent(
                session, str(form.get("card") or "4242424242424242"), form.get("test_clock"))
            session["status"], session["payment_status"] = "complete", "paid"
        else:
            session["status"], session["payment_status"] = "complete", "unpaid"
            session["payment_intent"] = "pi_" + secrets.token_hex(12)
        return export(session)

    def _payment_intent(session: dict[str, Any], card: str,
                        test_clock: str | None) -> tuple[str, str | None]:
        """A real, succeeded PaymentIntent in localstripe, so refunds of the session work; when
        the session saves the card, a Customer holding it (attached, for off-session use)."""
        from localstripe.resources import Customer, PaymentIntent, PaymentMethod

        method = PaymentMethod._api_create(
            type="card",
            card={"number": card, "exp_month": "12", "exp_year": "2040", "cvc": "123"},
        )
        customer = None
        if session["_saves_card"]:
            if test_clock is not None:
                test_clock_of(test_clock)  # 404 when unknown
            customer = Customer._api_create(email=session["customer_email"])
            customer.test_clock = test_clock
            PaymentMethod._api_attach(method.id, customer=customer.id)
        intent = PaymentIntent._api_create(
            amount=session["amount_total"],
            currency=session["currency"],
            customer=customer.id if customer else None,
            payment_method=method.id,
            confirm=True,
        )
        if session["_saves_card"]:
            intent.setup_future_usage = "off_session"
        if customer is not None and test_clock is not None:  # a clock's objects take its time
            customer.created = intent.created = test_clock_of(test_clock)["frozen_time"]
        return str(intent.id), customer.id if customer else None

    app.router.add_post(CHECKOUT_PATH, create)
    app.router.add_get("/v1/checkout/sessions/{id}", retrieve)
    app.router.add_get("/v1/checkout/sessions/{id}/line_items", line_items)
    states = "{state:paid|processing|expired}"
    app.router.add_post("/_config/checkout/sessions/{id}/" + states, set_state)


@contextmanager
def running_localstripe() -> Iterator[LocalStripe]:
    """Serve localstripe for the duration of the block, then shut it down."""
    instance = LocalStripe()
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture(scope="session")
def localstripe_server() -> Iterator[LocalStripe]:
    """One localstripe per test session (its store is process-global)."""
    with running_localstripe() as instance:
        yield instance


@pytest.fixture
def localstripe(localstripe_server: LocalStripe) -> LocalStripe:
    """The session's localstripe, emptied before the test."""
    localstripe_server.reset()
    return localstripe_server
