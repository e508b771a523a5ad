"""Stripe Billing on top of localstripe 1.15: what it lacks for subscriptions sold per seat.

localstripe has Plans but no Prices, one item per Subscription, a crude proration and no clock.
This module adds, on its aiohttp app and ahead of its own subscription and invoice routes:

- Prices created inline by `items[][price_data]` (`GET /v1/prices/{id}` reads them back);
- Subscriptions with several items, `billing_cycle_anchor` + `proration_behavior=none` (the first
  period up to the anchor is free, with no invoice), `backdate_start_date`, `trial_end`,
  `default_payment_method`, `cancel_at_period_end`, cancellation (`DELETE`), and updates of items
  with `proration_behavior` (`create_prorations`, `always_invoice`, `none`), `proration_date` and
  `payment_behavior` (`allow_incomplete`, `pending_if_incomplete`);
- Invoices (`GET`, list by subscription, `pay`, `void`, `expand[]=payments`) paid off-session on
  the subscription's default payment method through localstripe's PaymentIntents, so its test
  cards decide: 4242 4242 4242 4242 pays, 4000 0000 0000 0341 attaches but is declined;
- Test clocks (`POST /v1/test_helpers/test_clocks`, `.../advance`, customers created with
  `test_clock`): advancing past a period end renews the subscription, and the renewal invoice
  is finalized and charged an hour later, as Stripe does.

Proration, as Stripe documents it ("calculated down to the second ... the current billing
period's start and end times"): for an item at unit amount `p` whose quantity goes from `q0` to
`q1` at proration date `t` in the period [s, e], two lines are invoiced, each rounded to the
nearest cent (halves away from zero):

    unused time    -round(p * q0 * (e - t) / (e - s))
    remaining time +round(p * q1 * (e - t) / (e - s))

A new item has only the second line, a removed one only the first. A negative total is credited
to the customer's balance and taken off the next invoice.

Every change sends signed events (`customer.subscription.created|updated|deleted`,
`invoice.created|finalized|paid|payment_succeeded|payment_failed`) to the endpoints registered
with localstripe's `POST /_config/webhooks/{id}`, signed as localstripe signs its own (`t=<event
created>,v1=<HMAC-SHA256>`), in order, after the API call has answered. Event `created` is the
wall clock, as Stripe signs deliveries of test-clock objects with the real time.

Not simulated: Smart Retries and dunning (retry with `POST /v1/invoices/{id}/pay`), the expiry of
pending updates, taxes, coupons, flexible billing mode, and the clock's `advancing` state (an
advance is done when the call answers).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import stripe
from aiohttp import ClientError, ClientSession, web

KEY = "billing.{}:{}"
RENEWAL_FINALIZE_DELAY = 3600  # Stripe finalizes and charges a renewal invoice about an hour later
PENDING_UPDATE_SECONDS = 23 * 3600
SUBSCRIPTION_PARAMS = frozenset(
    "customer items default_payment_method metadata billing_cycle_anchor proration_behavior"
    " backdate_start_date trial_end cancel_at_period_end payment_behavior off_session"
    " collection_method description expand".split())
UPDATE_PARAMS = frozenset(
    "items proration_behavior proration_date payment_behavior cancel_at_period_end"
    " default_payment_method metadata off_session description expand".split())
PENDING_UPDATE_PARAMS = frozenset(
    "items proration_behavior proration_date payment_behavior off_session expand".split())
LIVE = ("active", "past_due", "trialing")
logger = logging.getLogger(__name__)

Handler = Callable[..., Awaitable[web.StreamResponse]]


def _ls() -> tuple[Any, Any, Any, Any]:
    from support.localstripe_server import _localstripe

    return _localstripe()


def _error(status: int, message: str, param: str | None = None, **extra: Any) -> Exception:
    _, _, user_error, _ = _ls()
    contents = {"param": param, **extra} if param else (extra or None)
    return user_error(status, message, contents)


def _new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


def _int(value: Any, param: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _error(400, f"Invalid integer: {value}", param) from None


def _bool(value: Any, param: str) -> bool:
    if value in (True, "true"):
        return True
    if value in (False, "false"):
        return False
    raise _error(400, f"Invalid boolean: {value}", param)


def _get(kind: str, object_id: str) -> dict[str, Any]:
    _, store, _, _ = _ls()
    found = store.get(KEY.format(kind, object_id))
    if found is None:
        raise _error(404, f"No such {kind}: '{object_id}'", "id", code="resource_missing")
    return found


def _put(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    _, store, _, _ = _ls()
    store[KEY.format(kind, obj["id"])] = obj
    return obj


def _all(kind: str) -> list[dict[str, Any]]:
    _, store, _, _ = _ls()
    prefix = KEY.format(kind, "")
    return [v for k, v in list(store.items()) if k.startswith(prefix)]


def _public(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if not k.startswith("_")}


# --- time ----------------------------------------------------------------------------------


def test_clock_of(clock_id: str) -> dict[str, Any]:
    """The test clock, or Stripe's 404."""
    return _get("test_clock", clock_id)


def _clock_of_customer(customer_id: str) -> dict[str, Any] | None:
    from localstripe.resources import Customer

    clock_id = getattr(Customer._api_retrieve(customer_id), "test_clock", None)
    return _get("test_clock", clock_id) if clock_id else None


def _now(customer_id: str) -> int:
    """The customer's time: its test clock's frozen time, else the wall clock."""
    clock = _clock_of_customer(customer_id)
    return int(clock["frozen_time"]) if clock else int(time.time())


def _add_months(timestamp: int, months: int) -> int:
    """The same day and time `months` later, on the month's last day when it is shorter."""
    when = datetime.fromtimestamp(timestamp, UTC)
    month0 = when.month - 1 + months
    year, month = when.year + month0 // 12, month0 % 12 + 1
    for day in (when.day, 30, 29, 28):
        try:
            return int(when.replace(year=year, month=month, day=day).timestamp())
        except ValueError:
            continue
    raise ValueError(timestamp)


def _period_end(sub: dict[str, Any], cycles: int) -> int:
    """The end of billing period number `cycles` after the anchor (0: the anchor itself)."""
    recurring = sub["items"]["data"][0]["price"]["recurring"]
    months = recurring["interval_count"] * (12 if recurring["interval"] == "year" else 1)
    return _add_months(sub["billing_cycle_anchor"], months * cycles)


# --- events --------------------------------------------------------------------------------

_outbox: list[dict[str, Any]] = []


def _emit(event_type: str, obj: dict[str, Any], previous: dict[str, Any] | None = None) -> None:
    event = {
        "id": _new_id("evt_"), "object": "event", "api_version": stripe.api_version,
        "created": int(time.time()), "livemode": False, "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None}, "type": event_type,
        "data": {"object": _export(obj), **({"previous_attributes": previous} if previous else {})},
    }
    _put("event", event)
    _outbox.append(event)


def _flush() -> None:
    """Deliver what this request emitted, in order, once the answer has gone out."""
    if not _outbox:
        return
    events = list(_outbox)
    _outbox.clear()
    asyncio.ensure_future(_deliver(events))


async def _deliver(events: list[dict[str, Any]]) -> None:
    from localstripe.webhooks import _webhooks

    await asyncio.sleep(0.05)
    async with ClientSession() as session:
        for event in events:
            payload = json.dumps(event, indent=2, sort_keys=True).encode()
            for hook in list(_webhooks.values()):
                if hook.events is not None and event["type"] not in hook.events:
                    continue
                mac = hmac.new(hook.secret.encode(), b"%d.%s" % (event["created"], payload),
                               hashlib.sha256).hexdigest()
                headers = {"Content-Type": "application/json; charset=utf-8",
                           "Stripe-Signature": f"t={event['created']},v1={mac}"}
                try:
                    async with session.post(hook.url, data=payload, headers=headers) as answer:
                        logger.info("webhook %s answered %s", event["type"], answer.status)
                except ClientError as exc:
                    logger.info("webhook %s failed: %s", event["type"], exc)


# --- exports -------------------------------------------------------------------------------


def _export(obj: dict[str, Any], expand: list[str] | None = None) -> dict[str, Any]:
    out = json.loads(json.dumps(_public(obj)))
    for path in expand or []:
        if obj.get("object") == "subscription" and path == "latest_invoice":
            if obj["latest_invoice"]:
                out["latest_invoice"] = _export(_get("invoice", obj["latest_invoice"]))
        elif obj.get("object") == "invoice" and path == "payments":
            out["payments"] = {"object": "list", "data": obj["_payments"], "has_more": False,
                               "url": f"/v1/invoices/{obj['id']}/payments"}
        else:
            raise _error(400, f"This property cannot be expanded ({path}).", "expand")
    return out


def _answer(obj: dict[str, Any], expand: list[str] | None = None) -> web.Response:
    server, _, _, _ = _ls()
    response = server.json_response(_export(obj, expand))
    _flush()
    return response


# --- prices and items ----------------------------------------------------------------------


def _price(data: Any, index: int, customer_now: int) -> dict[str, Any]:
    from localstripe.resources import Product

    param = f"items[{index}]"
    if isinstance(data, dict) and "price" in data:
        return _get("price", str(data["price"]))
    price_data = data.get("price_data") if isinstance(data, dict) else None
    if not isinstance(price_data, dict):
        raise _error(400, "Each item needs price_data or price", param)
    recurring = price_data.get("recurring") or {}
    interval = recurring.get("interval")
    if interval not in ("month", "year"):
        raise _error(400, "recurring[interval] must be month or year",
                     f"{param}[price_data][recurring][interval]")
    count = _int(recurring.get("interval_count", 1),
                 f"{param}[price_data][recurring][interval_count]")
    unit = _int(price_data.get("unit_amount"), f"{param}[price_data][unit_amount]")
    currency = price_data.get("currency")
    if unit < 0 or count < 1 or not isinstance(currency, str) or len(currency) != 3:
        raise _error(400, "price_data needs currency, unit_amount >= 0, interval_count >= 1",
                     f"{param}[price_data]")
    product = Product._api_retrieve(str(price_data.get("product")))  # 404 when unknown
    return _put("price", {
        "id": _new_id("price_"), "object": "price", "active": False, "billing_scheme": "per_unit",
        "created": customer_now, "currency": currency.lower(), "livemode": False,
        "metadata": {}, "product": product.id, "type": "recurring", "unit_amount": unit,
        "unit_amount_decimal": str(unit),
        "recurring": {"interval": interval, "interval_count": count, "usage_type": "licensed"},
    })


def _quantity(data: dict[str, Any], index: int, default: int | None) -> int:
    if "quantity" not in data and default is not None:
        return default
    quantity = _int(data.get("quantity", 1), f"items[{index}][quantity]")
    if quantity < 1:
        raise _error(400, "quantity must be at least 1", f"items[{index}][quantity]")
    return quantity


def _item(sub_id: str, price: dict[str, Any], quantity: int, created: int) -> dict[str, Any]:
    return {"id": _new_id("si_"), "object": "subscription_item", "created": created,
            "metadata": {}, "price": price, "quantity": quantity, "subscription": sub_id,
            "current_period_start": None, "current_period_end": None}


def _set_period(sub: dict[str, Any], start: int, end: int) -> None:
    for item in sub["items"]["data"]:
        item["current_period_start"], item["current_period_end"] = start, end


def _period(sub: dict[str, Any]) -> tuple[int, int]:
    first = sub["items"]["data"][0]
    return first["current_period_start"], first["current_period_end"]


def _check_interval(items: list[dict[str, Any]]) -> None:
    kinds = {(i["price"]["currency"], i["price"]["recurring"]["interval"],
              i["price"]["recurring"]["interval_count"]) for i in items}
    if len(kinds) > 1:
        raise _error(400, "All prices on a subscription must share currency and interval",
                     "items")


# --- invoices ------------------------------------------------------------------------------


def _line(sub: dict[str, Any], item: dict[str, Any], amount: int, quantity: int,
          period: tuple[int, int], description: str, proration: bool) -> dict[str, Any]:
    price = item["price"]
    return {
        "id": _new_id("il_"), "object": "line_item", "amount": amount,
        "currency": price["currency"], "description": description, "livemode": False,
        "metadata": {}, "quantity": quantity,
        "period": {"start": period[0], "end": period[1]},
        "pricing": {"type": "price_details", "unit_amount_decimal": str(price["unit_amount"]),
                    "price_details": {"price": price["id"], "product": price["product"]}},
        "parent": {"type": "subscription_item_details", "subscription_item_details": {
            "subscription": sub["id"], "subscription_item": item["id"], "proration": proration,
            "invoice_item": None, "proration_details": {"credited_items": None}}},
    }


def _new_invoice(sub: dict[str, Any], reason: str, lines: list[dict[str, Any]],
                 period: tuple[int, int], created: int) -> dict[str, Any]:
    invoice_id = _new_id("in_")
    for line in lines:
        line["invoice"] = invoice_id
    total = sum(line["amount"] for line in lines)
    invoice = _put("invoice", {
        "id": invoice_id, "object": "invoice", "customer": sub["customer"],
        "currency": sub["currency"], "billing_reason": reason,
        "collection_method": "charge_automatically", "created": created, "livemode": False,
        "metadata": {}, "number": None, "status": "draft", "attempt_count": 0,
        "attempted": False, "auto_advance": True, "next_payment_attempt": None,
        "period_start": period[0], "period_end": period[1], "subtotal": total, "total": total,
        "amount_due": max(total, 0), "amount_paid": 0, "amount_remaining": max(total, 0),
        "starting_balance": 0, "ending_balance": None, "test_clock": sub["test_clock"],
        "status_transitions": {"finalized_at": None, "paid_at": None, "voided_at": None},
        "hosted_invoice_url": f"https://invoice.localstripe.test/{invoice_id}",
        "parent": {"type": "subscription_details", "quote_details": None,
                   "subscription_details": {"subscription": sub["id"],
                                            "metadata": dict(sub["metadata"]),
                                            "subscription_proration_date": None}},
        "lines": {"object": "list", "data": lines, "has_more": False,
                  "url": f"/v1/invoices/{invoice_id}/lines"},
        "_payments": [], "_pending_update_of": None,
        "_finalize_at": created + (RENEWAL_FINALIZE_DELAY if reason == "subscription_cycle"
                                   else 0),
    })
    _emit("invoice.created", invoice)
    return invoice


def _finalize(invoice: dict[str, Any], now: int) -> None:
    """Open the invoice, take the customer's credit balance into account, and charge it."""
    balance_key = invoice["customer"]
    balance = _balance(balance_key)
    total = invoice["total"]
    applied = min(-balance, max(total, 0)) if balance < 0 else 0
    ending = balance + applied + min(total, 0)
    invoice.update(starting_balance=balance, ending_balance=ending,
                   amount_due=max(total, 0) - applied, status="open",
                   number=f"LS-{secrets.token_hex(3).upper()}-{len(_all('invoice')):04d}")
    invoice["amount_remaining"] = invoice["amount_due"]
    invoice["status_transitions"]["finalized_at"] = now
    _set_balance(balance_key, ending)
    _emit("invoice.finalized", invoice)
    _attempt(invoice, now)


def _balance(customer_id: str) -> int:
    _, store, _, _ = _ls()
    return int(store.get(KEY.format("balance", customer_id), 0))


def _set_balance(customer_id: str, amount: int) -> None:
    _, store, _, _ = _ls()
    store[KEY.format("balance", customer_id)] = amount


def _attempt(invoice: dict[str, Any], now: int) -> bool:
    """Charge the open invoice off-session; True when it is paid."""
    from localstripe.resources import Customer, PaymentIntent

    sub = _get("subscription", invoice["parent"]["subscription_details"]["subscription"])
    invoice["attempt_count"] += 1
    invoice["attempted"] = True
    if invoice["amount_due"] == 0:
        _paid(invoice, sub, now)
        return True
    method = sub["default_payment_method"] or Customer._api_retrieve(
        invoice["customer"]).invoice_settings.get("default_payment_method")
    intent = None
    if method:
        intent = PaymentIntent(amount=invoice["amount_due"], currency=invoice["currency"],
                               customer=invoice["customer"], payment_method=method)
        intent._confirm(on_failure_now=lambda: None)
    invoice["_payments"].append({
        "id": _new_id("inpay_"), "object": "invoice_payment", "invoice": invoice["id"],
        "amount_requested": invoice["amount_due"], "currency": invoice["currency"],
        "is_default": True, "livemode": False, "created": now,
        "status": "paid" if intent is not None and intent.status == "succeeded" else "open",
        "payment": {"type": "payment_intent",
                    "payment_intent": intent.id if intent is not None else None},
    })
    if intent is not None and intent.status == "succeeded":
        _paid(invoice, sub, now)
        return True
    invoice["next_payment_attempt"] = None  # no Smart Retries here: pay it again by API
    _emit("invoice.payment_failed", invoice)
    if invoice["billing_reason"] == "subscription_cycle" and sub["status"] != "past_due":
        previous = {"status": sub["status"]}
        sub["status"] = "past_due"
        _emit("customer.subscription.updated", sub, previous)
    return False


def _paid(invoice: dict[str, Any], sub: dict[str, Any], now: int) -> None:
    invoice.update(status="paid", amount_paid=invoice["amount_due"], amount_remaining=0)
    invoice["status_transitions"]["paid_at"] = now
    _emit("invoice.paid", invoice)
    _emit("invoice.payment_succeeded", invoice)
    previous: dict[str, Any] = {}
    if invoice["_pending_update_of"] and sub["pending_update"]:
        previous["items"] = _export(sub)["items"]
        sub["items"]["data"] = sub.pop("_pending_items")
        sub["pending_update"] = None
    if sub["status"] in ("past_due", "incomplete") and invoice["billing_reason"] in (
            "subscription_cycle", "subscription_create"):
        previous["status"] = sub["status"]
        sub["status"] = "active"
    if previous:
        _emit("customer.subscription.updated", sub, previous)


# --- subscriptions -------------------------------------------------------------------------


def _create_subscription(data: dict[str, Any]) -> dict[str, Any]:
    from localstripe.resources import Customer, PaymentMethod

    unknown = sorted(set(data) - SUBSCRIPTION_PARAMS)
    if unknown:
        raise _error(400, f"Received unknown parameter: {unknown[0]}", unknown[0])
    customer = Customer._api_retrieve(str(data.get("customer")))
    now = _now(customer.id)
    items_in = data.get("items")
    if not isinstance(items_in, list) or not items_in:
        raise _error(400, "Missing required param: items.", "items")
    method = data.get("default_payment_method")
    if method is not None:
        pm = PaymentMethod._api_retrieve(str(method))
        if pm.customer != customer.id:
            raise _error(400, "The payment method must be attached to the customer",
                         "default_payment_method")
    sub_id = _new_id("sub_")
    items = [_item(sub_id, _price(spec, i, now), _quantity(spec, i, None), now)
             for i, spec in enumerate(items_in)]
    _check_interval(items)
    start = now
    if data.get("backdate_start_date") is not None:
        start = _int(data["backdate_start_date"], "backdate_start_date")
        if start > now:
            raise _error(400, "backdate_start_date must be in the past", "backdate_start_date")
    anchor = trial_end = None
    if data.get("billing_cycle_anchor") is not None:
        anchor = _int(data["billing_cycle_anchor"], "billing_cycle_anchor")
        if anchor <= now:
            raise _error(400, "billing_cycle_anchor must be in the future", "billing_cycle_anchor")
        if data.get("proration_behavior") != "none":
            raise _error(400, "Only proration_behavior=none is simulated with a future "
                              "billing_cycle_anchor", "proration_behavior")
    if data.get("trial_end") is not None:
        trial_end = _int(data["trial_end"], "trial_end")
        if trial_end <= now or anchor is not None:
            raise _error(400, "trial_end must be in the future, without billing_cycle_anchor",
                         "trial_end")
    sub = {
        "id": sub_id, "object": "subscription", "customer": customer.id, "created": now,
        "start_date": start, "currency": items[0]["price"]["currency"],
        "billing_cycle_anchor": anchor or trial_end or start,
        "collection_method": "charge_automatically", "livemode": False,
        "metadata": data.get("metadata") or {}, "description": data.get("description"),
        "default_payment_method": method, "cancel_at_period_end": False, "cancel_at": None,
        "canceled_at": None, "ended_at": None, "trial_start": now if trial_end else None,
        "trial_end": trial_end, "latest_invoice": None, "pending_update": None,
        "status": "trialing" if trial_end else "active",
        "test_clock": getattr(customer, "test_clock", None),
        "items": {"object": "list", "data": items, "has_more": False,
                  "url": f"/v1/subscription_items?subscription={sub_id}"},
        "_cycles": 0, "_pending_items": None, "_proration_items": [],
    }
    _put("subscription", sub)
    invoice = None
    if anchor is not None:  # the period up to the anchor is free and has no invoice
        _set_period(sub, start, anchor)
    elif trial_end is not None:  # a trial has a 0.00 invoice
        _set_period(sub, now, trial_end)
        lines = [_line(sub, i, 0, i["quantity"], (now, trial_end),
                       f"Trial period for {i['quantity']} × {i['price']['product']}", False)
                 for i in items]
        invoice = _new_invoice(sub, "subscription_create", lines, (now, now), now)
    else:  # the first period is invoiced and charged now
        sub["billing_cycle_anchor"] = start
        _set_period(sub, start, _period_end(sub, 1))
        sub["_cycles"] = 1
        lines = [_line(sub, i, i["price"]["unit_amount"] * i["quantity"], i["quantity"],
                       _period(sub), f"{i['quantity']} × {i['price']['product']}", False)
                 for i in items]
        invoice = _new_invoice(sub, "subscription_create", lines, (now, now), now)
        sub["status"] = "incomplete"
    _emit("customer.subscription.created", sub)
    if invoice is not None:
        sub["latest_invoice"] = invoice["id"]
        _finalize(invoice, now)
    return sub


def _prorate(amount: int, remaining: int, length: int) -> int:
    """amount × remaining / length, to the nearest cent, halves away from zero."""
    sign = -1 if amount < 0 else 1
    return sign * ((2 * abs(amount) * remaining + length) // (2 * length))


def _proration_lines(sub: dict[str, Any], new_items: list[dict[str, Any]],
                     at: int) -> list[dict[str, Any]]:
    start, end = _period(sub)
    remaining, length = end - at, end - start
    day = datetime.fromtimestamp(at, UTC).strftime("%d %b %Y")
    old = {i["id"]: i for i in sub["items"]["data"]}
    new = {i["id"]: i for i in new_items}
    lines = []
    for item_id, before in old.items():
        after = new.get(item_id)
        if after is not None and after["price"]["id"] == before["price"]["id"] \
                and after["quantity"] == before["quantity"]:
            continue
        amount = before["price"]["unit_amount"] * before["quantity"]
        lines.append(_line(sub, before, -_prorate(amount, remaining, length), before["quantity"],
                           (at, end), f"Unused time on {before['quantity']} × "
                           f"{before['price']['product']} after {day}", True))
        if after is not None:
            lines.append(_remaining_line(sub, after, remaining, length, at, end, day))
    lines.extend(_remaining_line(sub, after, remaining, length, at, end, day)
                 for item_id, after in new.items() if item_id not in old)
    return lines


def _remaining_line(sub: dict[str, Any], item: dict[str, Any], remaining: int, length: int,
                    at: int, end: int, day: str) -> dict[str, Any]:
    amount = item["price"]["unit_amount"] * item["quantity"]
    return _line(sub, item, _prorate(amount, remaining, length), item["quantity"], (at, end),
                 f"Remaining time on {item['quantity']} × {item['price']['product']} after {day}",
                 True)


def _updated_items(sub: dict[str, Any], specs: Any, now: int) -> list[dict[str, Any]]:
    if not isinstance(specs, list):
        raise _error(400, "items must be a list", "items")
    current = {i["id"]: dict(i) for i in sub["items"]["data"]}
    added = []
    for index, spec in enumerate(specs):
        if not isinstance(spec, dict):
            raise _error(400, "Invalid item", f"items[{index}]")
        item_id = spec.get("id")
        if item_id is None:
            added.append(_item(sub["id"], _price(spec, index, now), _quantity(spec, index, None),
                               now))
            continue
        if item_id not in current:
            raise _error(400, f"No such subscription item: '{item_id}'", f"items[{index}][id]")
        if spec.get("deleted") is not None and _bool(spec["deleted"], f"items[{index}][deleted]"):
            del current[item_id]
            continue
        item = current[item_id]
        if "price_data" in spec or "price" in spec:
            item["price"] = _price(spec, index, now)
        item["quantity"] = _quantity(spec, index, item["quantity"])
    items = [*current.values(), *added]
    if not items:
        raise _error(400, "A subscription needs at least one item", "items")
    _check_interval(items)
    start, end = _period(sub)
    for item in added:
        item["current_period_start"], item["current_period_end"] = start, end
    return items


def _update_subscription(sub: dict[str, Any], data: dict[str, Any]) -> None:
    from localstripe.resources import PaymentMethod

    unknown = sorted(set(data) - UPDATE_PARAMS)
    if unknown:
        raise _error(400, f"Received unknown parameter: {unknown[0]}", unknown[0])
    if sub["status"] not in LIVE:
        raise _error(400, "A canceled subscription can only update its metadata", "status")
    payment_behavior = data.get("payment_behavior", "allow_incomplete")
    if payment_behavior not in ("allow_incomplete", "pending_if_incomplete"):
        raise _error(400, f"payment_behavior={payment_behavior} is not simulated",
                     "payment_behavior")
    if payment_behavior == "pending_if_incomplete":
        refused = sorted(set(data) - PENDING_UPDATE_PARAMS)
        if refused:
            raise _error(400, f"{refused[0]} cannot be used with pending_if_incomplete", refused[0])
    behavior = data.get("proration_behavior", "create_prorations")
    if behavior not in ("create_prorations", "always_invoice", "none"):
        raise _error(400, f"Invalid proration_behavior: {behavior}", "proration_behavior")
    now = _now(sub["customer"])
    start, end = _period(sub)
    at = now
    if data.get("proration_date") is not None:
        at = _int(data["proration_date"], "proration_date")
        if not start <= at <= end:
            raise _error(400, "proration_date must be within the current period", "proration_date")
    method = None
    if "default_payment_method" in data:
        method = PaymentMethod._api_retrieve(str(data["default_payment_method"]))
        if method.customer != sub["customer"]:
            raise _error(400, "The payment method must be attached to the customer",
                         "default_payment_method")
    cancel = None
    if "cancel_at_period_end" in data:
        cancel = _bool(data["cancel_at_period_end"], "cancel_at_period_end")
    new_items = _updated_items(sub, data["items"], now) if "items" in data else None
    # Every check is done: from here on the update applies (Stripe's updates are atomic).
    previous: dict[str, Any] = {}
    if "metadata" in data:
        previous["metadata"] = dict(sub["metadata"])
        sub["metadata"].update(data["metadata"] or {})
    if "description" in data:
        sub["description"] = data["description"]
    if method is not None:
        previous["default_payment_method"] = sub["default_payment_method"]
        sub["default_payment_method"] = method.id
    if cancel is not None:
        previous["cancel_at_period_end"] = sub["cancel_at_period_end"]
        sub.update(cancel_at_period_end=cancel, cancel_at=end if cancel else None,
                   canceled_at=now if cancel else None)
    if new_items is not None:
        lines = [] if behavior == "none" or sub["status"] == "trialing" else \
            _proration_lines(sub, new_items, at)
        if behavior == "always_invoice" and lines:
            invoice = _new_invoice(sub, "subscription_update", lines, (at, at), now)
            sub["latest_invoice"] = invoice["id"]
            if payment_behavior == "pending_if_incomplete":
                invoice["_pending_update_of"] = sub["id"]
                sub["_pending_items"] = new_items
                sub["pending_update"] = {
                    "expires_at": min(now + PENDING_UPDATE_SECONDS, end),
                    "subscription_items": [_public(i) for i in new_items],
                    "billing_cycle_anchor": None, "trial_end": None, "trial_from_plan": None}
                _finalize(invoice, now)  # the items apply when it is paid (see _paid)
                if sub["pending_update"] is not None:
                    previous["pending_update"] = None
            else:
                previous["items"] = _export(sub)["items"]
                sub["items"]["data"] = new_items
                _finalize(invoice, now)
        else:
            previous["items"] = _export(sub)["items"]
            sub["items"]["data"] = new_items
            if behavior == "create_prorations":
                sub["_proration_items"].extend(lines)
    if previous:
        _emit("customer.subscription.updated", sub, previous)


def _end(sub: dict[str, Any], at: int) -> None:
    previous = {"status": sub["status"]}
    sub.update(status="canceled", ended_at=at, canceled_at=sub["canceled_at"] or at,
               pending_update=None)
    _emit("customer.subscription.deleted", sub, previous)


def _renew(sub: dict[str, Any], at: int) -> None:
    """The period ended at `at`: end the subscription, or start the next period and invoice it."""
    if sub["cancel_at_period_end"]:
        _end(sub, at)
        return
    previous: dict[str, Any] = {"items": _export(sub)["items"]}
    old_start, _ = _period(sub)
    if sub["status"] == "trialing":
        previous["status"] = "trialing"
        sub["status"] = "active"
    sub["_cycles"] += 1
    _set_period(sub, at, _period_end(sub, sub["_cycles"]))
    lines = [_line(sub, i, i["price"]["unit_amount"] * i["quantity"], i["quantity"],
                   _period(sub), f"{i['quantity']} × {i['price']['product']}", False)
             for i in sub["items"]["data"]]
    lines.extend(sub["_proration_items"])
    sub["_proration_items"] = []
    _emit("customer.subscription.updated", sub, previous)
    invoice = _new_invoice(sub, "subscription_cycle", lines, (old_start, at), at)
    sub["latest_invoice"] = invoice["id"]


def _advance(clock: dict[str, Any], target: int) -> None:
    """Run every renewal and invoice finalization due up to `target`, in time order."""
    while True:
        due: list[tuple[int, int, str, dict[str, Any]]] = []
        for sub in _all("subscription"):
            if sub["test_clock"] == clock["id"] and sub["status"] in LIVE:
                end = _period(sub)[1]
                if end <= target:
                    due.append((end, 0, sub["id"], sub))
        for invoice in _all("invoice"):
            if invoice["test_clock"] == clock["id"] and invoice["status"] == "draft" \
                    and invoice["_finalize_at"] <= target:
                due.append((invoice["_finalize_at"], 1, invoice["id"], invoice))
        if not due:
            break
        at, _, _, obj = min(due, key=lambda d: d[:3])
        clock["frozen_time"] = at
        if obj["object"] == "subscription":
            _renew(obj, at)
        else:
            _finalize(obj, at)
    clock["frozen_time"] = target


# --- handlers ------------------------------------------------------------------------------


async def _data(request: web.Request) -> dict[str, Any]:
    _, _, _, get_post_data = _ls()
    if request.method == "POST":
        return dict(await get_post_data(request) or {})
    server, _, _, _ = _ls()
    return dict(server.unflatten_data(request.query) or {})


def _expand(data: dict[str, Any]) -> list[str]:
    expand = data.pop("expand", None) or []
    return expand if isinstance(expand, list) else [expand]


async def create_clock(request: web.Request) -> web.Response:
    data = await _data(request)
    frozen = _int(data.get("frozen_time"), "frozen_time")
    clock = _put("test_clock", {
        "id": _new_id("clock_"), "object": "test_helpers.test_clock", "created": int(time.time()),
        "deletes_after": int(time.time()) + 30 * 86400, "frozen_time": frozen,
        "livemode": False, "name": data.get("name"), "status": "ready"})
    return _answer(clock)


async def retrieve_clock(request: web.Request, clock_id: str) -> web.Response:
    return _answer(_get("test_clock", clock_id))


async def advance_clock(request: web.Request, clock_id: str) -> web.Response:
    clock = _get("test_clock", clock_id)
    target = _int((await _data(request)).get("frozen_time"), "frozen_time")
    if target <= clock["frozen_time"]:
        raise _error(400, "frozen_time must be after the clock's current frozen_time",
                     "frozen_time")
    _advance(clock, target)
    return _answer(clock)


async def create_customer(request: web.Request) -> web.Response:
    from localstripe.resources import Customer

    server, _, _, _ = _ls()
    data = await _data(request)
    expand = _expand(data)
    clock_id = data.pop("test_clock", None)
    if clock_id is not None:
        _get("test_clock", str(clock_id))
    customer = Customer._api_create(**data)
    customer.test_clock = clock_id
    return server.json_response(customer._export(expand=expand))


async def retrieve_price(request: web.Request, price_id: str) -> web.Response:
    return _answer(_get("price", price_id))


async def create_subscription(request: web.Request) -> web.Response:
    data = await _data(request)
    expand = _expand(data)
    return _answer(_create_subscription(data), expand)


async def retrieve_subscription(request: web.Request, sub_id: str) -> web.Response:
    return _answer(_get("subscription", sub_id), _expand(await _data(request)))


async def update_subscription(request: web.Request, sub_id: str) -> web.Response:
    sub = _get("subscription", sub_id)
    data = await _data(request)
    expand = _expand(data)
    _update_subscription(sub, data)
    return _answer(sub, expand)


async def cancel_subscription(request: web.Request, sub_id: str) -> web.Response:
    sub = _get("subscription", sub_id)
    if sub["status"] not in LIVE:
        raise _error(400, f"No such subscription: '{sub_id}' is already canceled", "id",
                     code="resource_missing")
    _end(sub, _now(sub["customer"]))
    return _answer(sub)


async def list_subscriptions(request: web.Request) -> web.Response:
    data = await _data(request)
    subs = [s for s in _all("subscription")
            if data.get("customer") in (None, s["customer"])]
    return _list(sorted(subs, key=lambda s: s["created"], reverse=True), "/v1/subscriptions")


async def retrieve_invoice(request: web.Request, invoice_id: str) -> web.Response:
    return _answer(_get("invoice", invoice_id), _expand(await _data(request)))


async def list_invoices(request: web.Request) -> web.Response:
    data = await _data(request)
    found = [i for i in _all("invoice")
             if data.get("customer") in (None, i["customer"]) and data.get("subscription") in
             (None, i["parent"]["subscription_details"]["subscription"])]
    return _list(sorted(found, key=lambda i: (i["created"], i["id"]), reverse=True),
                 "/v1/invoices")


async def pay_invoice(request: web.Request, invoice_id: str) -> web.Response:
    invoice = _get("invoice", invoice_id)
    if invoice["status"] != "open":
        raise _error(400, f"Invoice is {invoice['status']}: only an open invoice can be paid",
                     code="invoice_not_open")
    now = _now(invoice["customer"])
    if not _attempt(invoice, now):
        _flush()
        raise _error(402, "Your card was declined.", code="card_declined")
    return _answer(invoice)


async def void_invoice(request: web.Request, invoice_id: str) -> web.Response:
    invoice = _get("invoice", invoice_id)
    if invoice["status"] not in ("draft", "open"):
        raise _error(400, f"Invoice is {invoice['status']}: it cannot be voided",
                     code="invoice_not_open")
    invoice["status"] = "void"
    invoice["amount_remaining"] = 0
    invoice["status_transitions"]["voided_at"] = _now(invoice["customer"])
    sub = _get("subscription", invoice["parent"]["subscription_details"]["subscription"])
    if invoice["_pending_update_of"] and sub["pending_update"]:
        sub["pending_update"] = sub["_pending_items"] = None  # the change is discarded
        _emit("customer.subscription.updated", sub, {"pending_update": "discarded"})
    _emit("invoice.voided", invoice)
    return _answer(invoice)


def _list(objects: list[dict[str, Any]], url: str) -> web.Response:
    server, _, _, _ = _ls()
    return server.json_response({"object": "list", "url": url, "has_more": False,
                                 "data": [_export(o) for o in objects]})


ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    ("POST", re.compile(r"/v1/test_helpers/test_clocks"), create_clock),
    ("GET", re.compile(r"/v1/test_helpers/test_clocks/(?P<clock_id>clock_\w+)"), retrieve_clock),
    ("POST", re.compile(r"/v1/test_helpers/test_clocks/(?P<clock_id>clock_\w+)/advance"),
     advance_clock),
    ("POST", re.compile(r"/v1/customers"), create_customer),
    ("GET", re.compile(r"/v1/prices/(?P<price_id>price_\w+)"), retrieve_price),
    ("POST", re.compile(r"/v1/subscriptions"), create_subscription),
    ("GET", re.compile(r"/v1/subscriptions"), list_subscriptions),
    ("GET", re.compile(r"/v1/subscriptions/(?P<sub_id>sub_\w+)"), retrieve_subscription),
    ("POST", re.compile(r"/v1/subscriptions/(?P<sub_id>sub_\w+)"), update_subscription),
    ("DELETE", re.compile(r"/v1/subscriptions/(?P<sub_id>sub_\w+)"), cancel_subscription),
    ("GET", re.compile(r"/v1/invoices"), list_invoices),
    ("GET", re.compile(r"/v1/invoices/(?P<invoice_id>in_\w+)"), retrieve_invoice),
    ("POST", re.compile(r"/v1/invoices/(?P<invoice_id>in_\w+)/pay"), pay_invoice),
    ("POST", re.compile(r"/v1/invoices/(?P<invoice_id>in_\w+)/void"), void_invoice),
]


@web.middleware
async def billing_routes(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Serve the billing resources ahead of localstripe's own subscription and invoice routes."""
    for method, pattern, view in ROUTES:
        match = pattern.fullmatch(request.path)
        if request.method == method and match:
            try:
                return await view(request, **match.groupdict())
            except BaseException:
                _outbox.clear()  # a refused request sends nothing
                raise
    return await handler(request)
