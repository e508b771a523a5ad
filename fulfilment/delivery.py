"""A supplier's answer made into delivered units: encrypted keys, signed licences, status."""

from __future__ import annotations

import calendar
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm.attributes import set_committed_value

from commerce.models import FulfilmentStatus, Order, OrderLine, utcnow
from commerce.status import (
    FULFILMENT_TRANSITIONS,
    set_fulfilment_status,
    transition_fulfilment_atomically,
)
from extensions import db
from fulfilment.models import OPEN_STATUSES, DeliveredUnit, FulfilmentLine, LineStatus
from fulfilment.secrets import key_digest, open_product_key, seal_product_key
from fulfilment.wholesalers import DeliveredItem, MalformedAnswer, mask_product_key
from licensing.services import LicenceRequest, issue_licences

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplacedKey:
    """A key of this unit that was replaced: what the buyer sees of it afterwards."""

    masked_key: str
    licence_number: str | None
    replaced_at: datetime
    reason: str


@dataclass(frozen=True)
class UnitView:
    """What a buyer, a partner or support sees of one delivered unit."""

    unit_id: uuid.UUID
    unit: int
    product_key: str
    download_url: str
    download_expires_at: datetime
    licence_number: str | None
    licence_token: str | None
    replaced: tuple[ReplacedKey, ...] = ()  # the keys it replaced, oldest first


class DuplicateProductKey(Exception):
    """A wholesaler answered a product key already delivered (on another order, or twice)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


def unit_context(line: FulfilmentLine, unit: int, generation: int) -> str:
    return f"{line.order_line_id}:{unit}:{generation}"


def store_units(
    line: FulfilmentLine,
    items: tuple[DeliveredItem, ...],
    generation: int = 1,
    units: list[int] | None = None,
) -> None:
    """Record each delivered unit once (unique per line, unit and generation).

    A key is never delivered on two units: its hash is unique across delivered units. A key seen
    before raises DuplicateProductKey and stores nothing (the caller rolls back and sends the
    line to an operator).
    """
    numbers = units or list(range(1, len(items) + 1))
    if len(numbers) != len(items):
        raise MalformedAnswer(f"expected {len(numbers)} keys, got {len(items)}")
    _refuse_seen_keys(line, items, numbers, generation)
    stored = {(u.unit, u.generation) for u in line.units}
    for number, item in zip(numbers, items, strict=True):
        if (number, generation) in stored:
            log.info("unit %s/%s of line %s already stored", number, generation, line.id)
            continue
        # Another order taking the same key at this very moment breaks this transaction on the
        # key's unique hash: the try is made again, and _refuse_seen_keys names the order.
        line.units.append(
            DeliveredUnit(
                fulfilment_line_id=line.id,
                unit=number,
                generation=generation,
                product_key_ciphertext=seal_product_key(
                    item.product_key, unit_context(line, number, generation)
                ),
                product_key_sha256=key_digest(item.product_key),
                product_key_masked=mask_product_key(item.product_key),
                download_url=item.download_url,
                download_expires_at=item.download_expires_at,
            )
        )


def _refuse_seen_keys(
    line: FulfilmentLine, items: tuple[DeliveredItem, ...], numbers: list[int], generation: int
) -> None:
    """Raise DuplicateProductKey when a key is repeated in the answer or delivered elsewhere."""
    digests = {key_digest(item.product_key): number
               for item, number in zip(items, numbers, strict=True)}
    if len(digests) != len(items):
        raise DuplicateProductKey("the wholesaler answered the same product key for two units")
    with db.session.no_autoflush:  # reads what is stored; this try's own units come later
        seen = db.session.execute(
            select(DeliveredUnit.product_key_sha256, DeliveredUnit.fulfilment_line_id,
                   DeliveredUnit.unit, DeliveredUnit.generation)
            .where(DeliveredUnit.product_key_sha256.in_(digests))
        ).all()
    for digest, line_id, unit, unit_generation in seen:
        if (line_id, unit, unit_generation) == (line.id, digests[digest], generation):
            continue  # this very unit, stored by an earlier try
        other = db.session.scalar(
            select(Order.number).join(FulfilmentLine, FulfilmentLine.order_id == Order.id)
            .where(FulfilmentLine.id == line_id))
        where = f"order {other}" if line_id != line.id else "another unit of this line"
        raise DuplicateProductKey(
            f"the wholesaler delivered a product key already delivered on {where} "
            f"(key hash {digest[:12]}…): nothing was issued"
        )


def issue_unit_licences(line: FulfilmentLine) -> None:
    """Sign a licence for every unit that has none, in one batch (idempotent per line and unit)."""
    order_line: OrderLine = line.order_line
    order: Order = line.order
    product = order_line.product
    units = [unit for unit in line.units if unit.licence_id is None]
    if not units:
        return
    requests = [
        LicenceRequest(
            order_line_ref=(
                str(line.order_line_id)
                if unit.generation == 1
                else f"{line.order_line_id}:g{unit.generation}"
            ),
            unit=unit.unit,
            product_code=product.code,
            edition=product.edition,
            seats=product.seats,
            order_ref=order.number,
            partner=order.partner.slug,
            buyer_ref=order.email,
            product_key_sha256=unit.product_key_sha256,
            expires_at=_licence_expiry(order, order_line, unit.created_at),
        )
        for unit in units
    ]
    for unit, issued in zip(units, issue_licences(requests), strict=True):
        unit.licence_id, unit.licence_number, unit.licence_token = (
            issued.id,
            issued.number,
            issued.token,
        )


def _licence_expiry(order: Order, line: OrderLine, created_at: datetime | None) -> datetime | None:
    """A subscription's licence runs to the end of its term: an application added to a running
    subscription, to the subscription's term end (`renews_until`); else a term from payment."""
    if line.product.licence_type != "subscription":
        return None
    if line.renews_until is not None:
        return line.renews_until
    return subscription_end(order.paid_at or created_at or utcnow(), line.product.term_months)


def subscription_end(start: datetime, months: int | None) -> datetime:
    """The same day and time `months` later, clamped to the month's last day."""
    months = months or 12
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)


def refresh_order_status(order_id: uuid.UUID, *,
                         lines: list[FulfilmentLine] | None = None) -> FulfilmentStatus:
    """Derive the order's fulfilment status from its lines, in the caller's transaction.

    The line that changed is written first (flush), then the order's row is locked (FOR UPDATE
    on PostgreSQL; SQLite's single writer already holds the database) before the lines are read:
    two workers finishing two lines of one order at once are serialised on the order, and the
    second one reads the first one's line. A caller that created every line of the order in
    this transaction passes them as `lines`: nobody else can have changed them, so their
    statuses are not read back.
    """
    if lines is not None:
        moved = _move_unlocked(order_id, lines)
        if moved is not None:
            return moved
    db.session.flush()
    stmt = select(Order.fulfilment_status).where(Order.id == order_id)
    if db.engine.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    locked = db.session.execute(stmt).scalar_one()
    order = db.session.get(Order, order_id)
    assert order is not None
    if order.fulfilment_status != locked:  # moved since it was loaded: start from the row
        set_committed_value(order, "fulfilment_status", locked)
    if lines is not None:
        statuses = [LineStatus(line.status) for line in lines]
    else:
        statuses = [LineStatus(s) for s in db.session.scalars(
            select(FulfilmentLine.status).where(FulfilmentLine.order_id == order_id))]
    current = FulfilmentStatus(order.fulfilment_status)
    target = derive_status(statuses)
    if target == current or target not in FULFILMENT_TRANSITIONS[current]:
        return current
    set_fulfilment_status(order, target, "line statuses: " + ", ".join(sorted(map(str, statuses))))
    _announce(order_id, target)
    return target


def _announce(order_id: uuid.UUID, status: FulfilmentStatus) -> None:
    """An order that has just become delivered says so, once: the move that says it is the
    conditional change of its status, which only one transaction makes."""
    if status == FulfilmentStatus.DELIVERED:
        from events import emit
        from events.types import OrderDelivered

        emit(OrderDelivered(order_id=order_id))


def _move_unlocked(order_id: uuid.UUID, lines: list[FulfilmentLine]) -> FulfilmentStatus | None:
    """With every line this transaction's own, the status they give is the order's: move it by
    a conditional UPDATE from the status as loaded. None when the order moved meanwhile (an
    operator, say): the caller then takes the row's lock and reads it again."""
    order = db.session.get(Order, order_id)
    assert order is not None
    current = FulfilmentStatus(order.fulfilment_status)
    target = derive_status([LineStatus(line.status) for line in lines])
    if target == current or target not in FULFILMENT_TRANSITIONS[current]:
        return None
    reason = "line statuses: " + ", ".join(sorted(str(line.status) for line in lines))
    if not transition_fulfilment_atomically(order_id, current, target, reason):
        return None
    set_committed_value(order, "fulfilment_status", target)
    _announce(order_id, target)
    return target


def derive_status(statuses: list[LineStatus]) -> FulfilmentStatus:
    live = [s for s in statuses if s != LineStatus.CANCELLED]
    if not live:
        return FulfilmentStatus.CANCELLED if statuses else FulfilmentStatus.AWAITING
    delivered = sum(s == LineStatus.DELIVERED for s in live)
    attention = sum(s == LineStatus.NEEDS_ATTENTION for s in live)
    if delivered == len(live):
        return FulfilmentStatus.DELIVERED
    if delivered:
        return FulfilmentStatus.PARTIALLY_DELIVERED
    if attention and not any(s in OPEN_STATUSES for s in live):
        return FulfilmentStatus.NEEDS_ATTENTION
    return FulfilmentStatus.IN_PROGRESS


def unit_views(line: FulfilmentLine) -> list[UnitView]:
    """The active units of a line with their product keys decrypted, each with the keys it
    replaced (masked: only the current key is shown whole)."""
    replaced: dict[int, list[ReplacedKey]] = {}
    for u in sorted(line.units, key=lambda u: u.generation):
        if u.replaced_at is not None:
            replaced.setdefault(u.unit, []).append(ReplacedKey(
                u.product_key_masked, u.licence_number, u.replaced_at,
                u.replacement_reason or ""))
    return [
        UnitView(
            u.id,
            u.unit,
            open_product_key(u.product_key_ciphertext, unit_context(line, u.unit, u.generation)),
            u.download_url,
            u.download_expires_at,
            u.licence_number,
            u.licence_token,
            tuple(replaced.get(u.unit, ())),
        )
        for u in line.active_units
    ]


def line_deliveries(order: Order, lines: list[FulfilmentLine] | None = None,
                    ) -> dict[uuid.UUID, tuple[FulfilmentLine, list[UnitView]]]:
    """Each software line of an order with its fulfilment state and delivered units (`lines`:
    the order's fulfilment lines, when the caller has loaded them)."""
    if lines is None:
        lines = list(db.session.scalars(
            select(FulfilmentLine).where(FulfilmentLine.order_id == order.id)
        ))
    return {
        line.order_line_id: (line, unit_views(line) if line.status == LineStatus.DELIVERED else [])
        for line in lines
    }
