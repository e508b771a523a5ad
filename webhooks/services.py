"""Webhook endpoints, and sending what they are owed without ever slowing the shop.

- Deliveries are created in the transaction of the event they announce (`enqueue`, from the
  outbox consumer), one per subscribed endpoint, unique by endpoint and event: an event relayed
  twice owes each endpoint one delivery.
- They are sent after that commit, apart from the shop: on the webhooks Celery queue in
  production (a worker of its own), on a small pool of background threads with in-process jobs.
  Each attempt claims its delivery (a conditional UPDATE with a lease), holds no database
  connection during the HTTP call, gives up after WEBHOOK_TIMEOUT seconds, follows no redirect.
- A 2xx answer delivers; anything else (3xx, 4xx, 5xx, a timeout, a TLS or connection error)
  is recorded as an attempt with what went wrong and tried again with backoff (30 s doubling,
  at most 6 h apart) until three days after the delivery was created; it is then abandoned, and
  a replay (console, back office, command) sends the same body again.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, exists, or_, select, update

from commerce.models import Order, Partner
from commerce.refusals import FieldErrors
from events.outbox import after_commit
from extensions import db, insert_once, utcnow
from webhooks import signing
from webhooks.models import (
    EVENT_TYPES,
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)

log = logging.getLogger("comptoir.webhooks")

RETRY_WINDOW = timedelta(days=3)
FIRST_RETRY = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=6)
LEASE = timedelta(minutes=2)
ROTATION_OVERLAP = timedelta(hours=24)
MAX_ENDPOINTS = 10
_pool: ThreadPoolExecutor | None = None


class WebhookError(FieldErrors):
    """A refused endpoint change; errors maps each field to its message."""


# --- secrets at rest ----------------------------------------------------------------------------

def _aead() -> AESGCM:
    import base64

    raw = base64.urlsafe_b64decode(current_app.config["WEBHOOK_SECRETS_KEY"])
    if len(raw) != 32:
        raise ValueError("WEBHOOK_SECRETS_KEY must be 32 bytes, urlsafe base64")
    return AESGCM(raw)


def _seal(secret: str, endpoint_id: uuid.UUID) -> bytes:
    nonce = os.urandom(12)
    return nonce + _aead().encrypt(nonce, secret.encode(), endpoint_id.bytes)


def _open(sealed: bytes, endpoint_id: uuid.UUID) -> str:
    return _aead().decrypt(sealed[:12], sealed[12:], endpoint_id.bytes).decode()


def live_secrets(endpoint: WebhookEndpoint, now: datetime | None = None) -> list[str]:
    """The secrets that sign now: the current one, and the previous one during a rotation."""
    now = now or utcnow()
    found = [_open(endpoint.secret_sealed, endpoint.id)]
    if endpoint.previous_secret_sealed is not None and endpoint.previous_until is not None \
            and endpoint.previous_until > now:
        found.append(_open(endpoint.previous_secret_sealed, endpoint.id))
    return found


# --- endpoints ----------------------------------------------------------------------------------

def _local(host: str) -> bool:
    return host in {"localhost", "127.0.0.1", "::1"} or host.endswith(".localhost")


def check_url(url: str) -> str:
    """An endpoint address: https (http only to a local address outside production), no
    credentials in it, at most 500 characters."""
    text = str(url or "").strip()
    parts = urlsplit(text)
    production = current_app.config["ENV"] == "production"
    if len(text) > 500 or parts.scheme not in {"https", "http"} or not parts.hostname \
            or parts.username or parts.password or any(c.isspace() for c in text):
        raise WebhookError({"url": _l("must be an https:// address")})
    if parts.scheme == "http" and (production or not _local(parts.hostname)):
        raise WebhookError({"url": _l("must be an https:// address (http:// only to this "
                                      "machine, outside production)")})
    return text


def check_events(events: list[str] | None) -> list[str]:
    chosen = list(EVENT_TYPES) if not events else [str(e).strip() for e in events]
    unknown = [e for e in chosen if e not in EVENT_TYPES]
    if unknown:
        raise WebhookError({"events": _l("unknown: %(unknown)s; one of %(choices)s",
                                         unknown=", ".join(unknown),
                                         choices=", ".join(EVENT_TYPES))})
    return [e for e in EVENT_TYPES if e in chosen]


def create_endpoint(partner: Partner, url: str, *, actor: str, events: list[str] | None = None,
                    description: str = "") -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret, returned in clear this once. The caller commits."""
    errors: dict[str, Any] = {}
    clean_url, chosen = "", []
    try:
        clean_url = check_url(url)
    except WebhookError as exc:
        errors.update(exc.errors)
    try:
        chosen = check_events(events)
    except WebhookError as exc:
        errors.update(exc.errors)
    if len(description) > 200:
        errors["description"] = _l("at most %(limit)d characters", limit=200)
    count = db.session.scalar(select(db.func.count()).select_from(WebhookEndpoint).where(
        WebhookEndpoint.partner_id == partner.id, WebhookEndpoint.active.is_(True))) or 0
    if count >= MAX_ENDPOINTS:
        errors["url"] = _l("a partner has at most %(count)d active endpoints",
                            count=MAX_ENDPOINTS)
    if errors:
        raise WebhookError(errors)
    secret = signing.new_secret()
    endpoint = WebhookEndpoint(id=uuid.uuid4(), partner_id=partner.id, url=clean_url,
                               events=chosen, description=description.strip(),
                               created_by=actor)
    endpoint.secret_sealed = _seal(secret, endpoint.id)
    db.session.add(endpoint)
    partner.webhooks_active = True
    log.info("webhooks: endpoint %s of %s created by %s", endpoint.id, partner.slug, actor)
    return endpoint, secret


def rotate_secret(endpoint: WebhookEndpoint, *, now: datetime | None = None,
                  overlap: timedelta = ROTATION_OVERLAP) -> str:
    """A new secret; the previous one still signs (beside it) for `overlap`. The caller
    commits."""
    now = now or utcnow()
    secret = signing.new_secret()
    endpoint.previous_secret_sealed = endpoint.secret_sealed
    endpoint.previous_until = now + overlap
    endpoint.secret_sealed = _seal(secret, endpoint.id)
    log.info("webhooks: secret of endpoint %s rotated", endpoint.id)
    return secret


def set_active(endpoint: WebhookEndpoint, active: bool) -> None:
    endpoint.active = active
    db.session.flush()
    partner = db.session.get(Partner, endpoint.partner_id)
    if partner is not None:
        partner.webhooks_active = bool(db.session.scalar(select(exists().where(
            WebhookEndpoint.partner_id == partner.id, WebhookEndpoint.active.is_(True)))))


def change_endpoint(endpoint: WebhookEndpoint, action: str) -> str:
    """`rotate` the secret, `disable` or `enable` the endpoint; returns what to tell the person
    (a new secret, this once). The caller commits."""
    if action == "rotate":
        secret = rotate_secret(endpoint)
        return _("New signing secret for %(url)s, shown only now: %(secret)s. The previous one "
                 "still signs for %(hours)d hours.", url=endpoint.url, secret=secret,
                 hours=int(ROTATION_OVERLAP.total_seconds() // 3600))
    if action in ("disable", "enable"):
        set_active(endpoint, action == "enable")
        if action == "enable":
            return _("%(url)s: enabled.", url=endpoint.url)
        return _("%(url)s: disabled.", url=endpoint.url)
    raise WebhookError({"action": _l("must be rotate, disable or enable")})


def endpoint_of(partner: Partner, endpoint_id: uuid.UUID) -> WebhookEndpoint | None:
    """One of this partner's endpoints, or None (another partner's is None too)."""
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    return endpoint if endpoint is not None and endpoint.partner_id == partner.id else None


def delivery_of(partner: Partner, delivery_id: uuid.UUID) -> WebhookDelivery | None:
    """One of the deliveries owed to this partner's endpoints, or None."""
    delivery = db.session.get(WebhookDelivery, delivery_id)
    return delivery if delivery is not None and delivery.endpoint.partner_id == partner.id \
        else None


def endpoints_of(partner: Partner) -> list[WebhookEndpoint]:
    return list(db.session.scalars(select(WebhookEndpoint).where(
        WebhookEndpoint.partner_id == partner.id).order_by(WebhookEndpoint.created_at)))


def deliveries_of(partner: Partner, limit: int = 100) -> list[WebhookDelivery]:
    return list(db.session.scalars(
        select(WebhookDelivery).join(WebhookEndpoint)
        .where(WebhookEndpoint.partner_id == partner.id)
        .order_by(WebhookDelivery.created_at.desc()).limit(limit)))


def attempts_of(delivery: WebhookDelivery) -> list[WebhookAttempt]:
    return list(db.session.scalars(select(WebhookAttempt).where(
        WebhookAttempt.delivery_id == delivery.id).order_by(WebhookAttempt.at)))


# --- owing deliveries ---------------------------------------------------------------------------

def partner_listens(order_id: uuid.UUID | None) -> bool:
    """Whether the order's partner has an active endpoint: read from the order and partner the
    relay's transaction has loaded already (no statement then)."""
    if order_id is None:
        return False
    from sqlalchemy import inspect as sa_inspect
    from sqlalchemy.orm.util import identity_key

    loaded = db.session.identity_map.get(identity_key(Order, order_id))
    if loaded is not None:
        state: Any = sa_inspect(loaded)
        if "partner" not in state.unloaded and not state.expired:
            return bool(loaded.partner.webhooks_active)
    return bool(db.session.scalar(select(Partner.webhooks_active).join(
        Order, Order.partner_id == Partner.id).where(Order.id == order_id)))


def enqueue(order: Order, event_id: uuid.UUID, event_type: str, data: dict[str, Any],
            *, at: datetime | None = None) -> list[uuid.UUID]:
    """Owe this event to each active endpoint of the order's partner that subscribes to it, in
    the caller's transaction; sent once that transaction commits."""
    at = at or utcnow()
    body = json.dumps({
        "id": f"evt_{event_id.hex}", "type": event_type, "created": at.isoformat(),
        "partner": order.partner.slug, "data": data,
    }, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    created = []
    for endpoint in db.session.scalars(select(WebhookEndpoint).where(
            WebhookEndpoint.partner_id == order.partner_id, WebhookEndpoint.active.is_(True))):
        if event_type not in endpoint.events:
            continue
        delivery_id = uuid.uuid4()
        if insert_once(WebhookDelivery, id=delivery_id, endpoint_id=endpoint.id,
                       event_id=event_id, event_type=event_type, body=body,
                       status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=at,
                       created_at=at):
            created.append(delivery_id)
    if created:
        ids = list(created)
        after_commit(lambda: dispatch(ids))
    return created


def dispatch(delivery_ids: list[uuid.UUID]) -> None:
    """Send these deliveries now, apart from the caller: a Celery task on the webhooks queue, or
    with in-process jobs a background thread (the caller never waits for an endpoint)."""
    from extensions import celery
    from webhooks.tasks import send_deliveries

    if not celery.conf.task_always_eager:
        send_deliveries.delay([str(i) for i in delivery_ids])
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def run() -> None:
        with app.app_context():
            for delivery_id in delivery_ids:
                try:
                    send(delivery_id)
                except Exception:  # noqa: BLE001 - the sweep tries again; the shop goes on
                    log.exception("webhooks: delivery %s could not be tried", delivery_id)
                finally:
                    db.session.remove()

    _threads().submit(run)


def _threads() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="webhooks")
    return _pool


# --- sending ------------------------------------------------------------------------------------

def backoff(attempts: int) -> timedelta:
    """The wait after the n-th failed attempt: 30 s, 1 min, 2 min, … at most 6 h."""
    return min(FIRST_RETRY * (2 ** max(0, attempts - 1)), LONGEST_WAIT)


def _claim(delivery_id: uuid.UUID, now: datetime, *, replay: bool) -> bool:
    due = or_(
        and_(WebhookDelivery.status == DeliveryStatus.PENDING,
             WebhookDelivery.next_attempt_at <= now),
        and_(WebhookDelivery.status == DeliveryStatus.SENDING,
             WebhookDelivery.lease_until < now),
    )
    if replay:
        due = or_(due, WebhookDelivery.status.in_([DeliveryStatus.DELIVERED,
                                                   DeliveryStatus.ABANDONED,
                                                   DeliveryStatus.PENDING]))
    taken = db.session.execute(
        update(WebhookDelivery).where(WebhookDelivery.id == delivery_id, due)
        .values(status=DeliveryStatus.SENDING, lease_until=now + LEASE)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    db.session.commit()
    return bool(taken)


def _refused_address(host: str) -> str | None:
    """In production an endpoint must not reach the platform's own network."""
    if current_app.config["ENV"] != "production" or current_app.config.get(
            "WEBHOOK_ALLOW_PRIVATE_ADDRESSES"):
        return None
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError as exc:
        return f"the host does not resolve: {exc}"
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if address.is_private or address.is_loopback or address.is_link_local \
                or address.is_reserved or address.is_multicast:
            return f"{host} resolves to {address}, a private address"
    return None


def send(delivery_id: uuid.UUID, *, replay: bool = False,
         now: datetime | None = None) -> DeliveryStatus | None:
    """Try one delivery once; its new status, or None when it was not this call's to try."""
    now = now or utcnow()
    if not _claim(delivery_id, now, replay=replay):
        return None
    delivery = db.session.get(WebhookDelivery, delivery_id)
    assert delivery is not None
    endpoint = delivery.endpoint
    url, body = endpoint.url, delivery.body.encode()
    secrets_: list[str] = []
    problem: str | None = None
    if not endpoint.active:
        problem = "the endpoint is disabled"
    else:
        try:
            secrets_ = live_secrets(endpoint, now)
        except (InvalidTag, ValueError) as exc:
            problem = f"the endpoint's secret cannot be opened: {type(exc).__name__}"
    headers = {
        "Content-Type": "application/json", "User-Agent": "Comptoir-Webhooks/1",
        "Comptoir-Event": delivery.event_type, "Comptoir-Delivery": str(delivery.id),
    }
    db.session.rollback()  # no transaction, nor connection, held during the call
    status_code: int | None = None
    started = time.monotonic()
    if problem is None:
        problem = _refused_address(urlsplit(url).hostname or "")
    if problem is None:
        headers[signing.HEADER] = signing.header(secrets_, body)
        timeout = float(current_app.config.get("WEBHOOK_TIMEOUT", 5.0))
        try:
            answer = requests.post(url, data=body, headers=headers, allow_redirects=False,
                                   timeout=(min(3.05, timeout), timeout))
            status_code = answer.status_code
            answer.close()
            if not 200 <= status_code < 300:
                where = answer.headers.get("Location")
                problem = f"HTTP {status_code}" + (
                    f": a redirect to {where[:200]}, not followed" if 300 <= status_code < 400
                    and where else "")
        except requests.exceptions.SSLError as exc:
            problem = f"TLS error: {str(exc)[:300]}"
        except requests.exceptions.Timeout:
            problem = f"no answer within {timeout:g} s"
        except requests.exceptions.RequestException as exc:
            problem = f"{type(exc).__name__}: {str(exc)[:300]}"
    duration = int((time.monotonic() - started) * 1000)
    return _record(delivery_id, status_code, problem, duration, replay, now)


def _record(delivery_id: uuid.UUID, status_code: int | None, problem: str | None,
            duration_ms: int, replay: bool, now: datetime) -> DeliveryStatus:
    delivery = db.session.get(WebhookDelivery, delivery_id)
    assert delivery is not None
    attempts = delivery.attempts + 1
    db.session.add(WebhookAttempt(delivery_id=delivery_id, at=now, status_code=status_code,
                                  error=problem, duration_ms=duration_ms, replay=replay))
    if problem is None:
        status, next_at = DeliveryStatus.DELIVERED, delivery.next_attempt_at
        delivered_at: datetime | None = now
    else:
        next_at = now + backoff(attempts)
        status = DeliveryStatus.PENDING if next_at < delivery.created_at + RETRY_WINDOW \
            or replay and attempts == 1 else DeliveryStatus.ABANDONED
        delivered_at = delivery.delivered_at
        log.info("webhooks: delivery %s to %s failed (attempt %d): %s", delivery_id,
                 delivery.endpoint.url, attempts, problem)
    db.session.execute(
        update(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
        .values(status=status, attempts=attempts, next_attempt_at=next_at, lease_until=None,
                last_error=problem, delivered_at=delivered_at)
        .execution_options(synchronize_session=False))
    db.session.commit()
    return status


def due_ids(now: datetime | None = None, limit: int = 100) -> list[uuid.UUID]:
    now = now or utcnow()
    return list(db.session.scalars(
        select(WebhookDelivery.id).where(or_(
            and_(WebhookDelivery.status == DeliveryStatus.PENDING,
                 WebhookDelivery.next_attempt_at <= now),
            and_(WebhookDelivery.status == DeliveryStatus.SENDING,
                 WebhookDelivery.lease_until < now)))
        .order_by(WebhookDelivery.next_attempt_at).limit(limit)))


def send_due(now: datetime | None = None, limit: int = 100, threads: int = 4) -> int:
    """Try every delivery now due, a few at a time; returns how many were tried."""
    ids = due_ids(now, limit)
    db.session.rollback()
    if not ids:
        return 0
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def one(delivery_id: uuid.UUID) -> bool:
        with app.app_context():
            try:
                return send(delivery_id, now=now) is not None
            finally:
                db.session.remove()

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        return sum(pool.map(one, ids))


def replay(delivery: WebhookDelivery) -> None:
    """Send a delivery again, whatever its state (the same body, a fresh signature). The caller
    commits; it is sent after the commit."""
    delivery.status = DeliveryStatus.PENDING
    delivery.next_attempt_at = utcnow()
    delivery_id = delivery.id
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def resend() -> None:
        from extensions import celery
        from webhooks.tasks import replay_delivery

        if not celery.conf.task_always_eager:
            replay_delivery.delay(str(delivery_id))
            return

        def run() -> None:
            with app.app_context():
                try:
                    send(delivery_id, replay=True)
                finally:
                    db.session.remove()

        _threads().submit(run)

    after_commit(resend)
