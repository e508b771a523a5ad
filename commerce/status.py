"""Order state machines: explicit transition tables, one audit row per change."""

from __future__ import annotations

from commerce.models import FulfilmentStatus, Order, PaymentStatus, StatusChange
from extensions import db

P, F = PaymentStatus, FulfilmentStatus

# Money given back moves through REFUND_PENDING when we ask for it (one refund at a time), and
# straight to (PARTIALLY_)REFUNDED when the gateway tells us of one made there or of a lost dispute.
_GIVEN_BACK = frozenset({P.REFUND_PENDING, P.PARTIALLY_REFUNDED, P.REFUNDED, P.DISPUTED})
PAYMENT_TRANSITIONS: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    P.PENDING: frozenset({P.PAID, P.FAILED, P.EXPIRED, P.FLAGGED}),
    P.FAILED: frozenset({P.PAID, P.EXPIRED}),  # an async retry may still succeed
    P.PAID: _GIVEN_BACK,
    P.FLAGGED: _GIVEN_BACK,
    P.PARTIALLY_REFUNDED: _GIVEN_BACK - {P.PARTIALLY_REFUNDED},
    P.REFUND_PENDING: frozenset({P.PAID, P.FLAGGED, P.PARTIALLY_REFUNDED, P.REFUNDED}),
    P.DISPUTED: frozenset({P.PAID, P.FLAGGED, P.PARTIALLY_REFUNDED, P.REFUNDED}),
    P.EXPIRED: frozenset(),
    P.REFUNDED: frozenset(),
}

FULFILMENT_TRANSITIONS: dict[FulfilmentStatus, frozenset[FulfilmentStatus]] = {
    F.UNFULFILLED: frozenset({F.AWAITING, F.CANCELLED}),
    F.AWAITING: frozenset(
        {F.IN_PROGRESS, F.DELIVERED, F.PARTIALLY_DELIVERED, F.NEEDS_ATTENTION, F.CANCELLED}
    ),
    F.IN_PROGRESS: frozenset(
        {F.DELIVERED, F.PARTIALLY_DELIVERED, F.NEEDS_ATTENTION, F.AWAITING, F.CANCELLED}
    ),
    F.PARTIALLY_DELIVERED: frozenset({F.IN_PROGRESS, F.DELIVERED, F.NEEDS_ATTENTION, F.CANCELLED}),
    F.NEEDS_ATTENTION: frozenset(
        {F.IN_PROGRESS, F.AWAITING, F.DELIVERED, F.PARTIALLY_DELIVERED, F.CANCELLED}
    ),
    F.DELIVERED: frozenset({F.CANCELLED}),
    F.CANCELLED: frozenset(),
}


class InvalidTransition(Exception):
    """A status change that the transition table does not allow."""

    def __init__(self, field: str, current: str, new: str) -> None:
        super().__init__(f"{field} status cannot go from {current} to {new}")
        self.field, self.current, self.new = field, current, new


def set_payment_status(
    order: Order, new: PaymentStatus, reason: str, actor: str = "system"
) -> None:
    """Move the order's payment status along the table and audit it (the caller commits)."""
    _transition(order, "payment", PAYMENT_TRANSITIONS, new, reason, actor)


def set_fulfilment_status(
    order: Order, new: FulfilmentStatus, reason: str, actor: str = "system"
) -> None:
    """Move the order's fulfilment status along the table and audit it (the caller commits)."""
    _transition(order, "fulfilment", FULFILMENT_TRANSITIONS, new, reason, actor)


def _transition(order: Order, field: str, table: dict, new: str, reason: str, actor: str) -> None:  # type: ignore[type-arg]
    attr = f"{field}_status"
    current = getattr(order, attr)
    if new not in table[current]:
        raise InvalidTransition(field, current, new)
    setattr(order, attr, new)
    db.session.add(
        StatusChange(
            order=order, field=field, from_status=current, to_status=new, reason=reason, actor=actor
        )
    )


def transition_payment_atomically(
    order_id: object, new: PaymentStatus, reason: str, actor: str = "system",
    *, from_statuses: frozenset[PaymentStatus] | None = None,
    fulfilment: tuple[FulfilmentStatus, FulfilmentStatus, str] | None = None, **values: object
) -> PaymentStatus | None:
    """Move payment status with a conditional UPDATE; return the old status, None if nobody moved.

    Two callers racing (the webhook and the return page) both issue the UPDATE;
    the database lets exactly one of them match the old status, so the order
    changes once and the loser learns it was already processed.

    `fulfilment` (from, to, reason) moves the fulfilment status in the same UPDATE, from the status
    the caller read; an order whose fulfilment stands elsewhere by then raises InvalidTransition,
    which rolls the payment back with it (the gateway's retry meets the order as it is).
    """
    from sqlalchemy import case, update

    for current in (s for s, targets in PAYMENT_TRANSITIONS.items()
                    if new in targets and (from_statuses is None or s in from_statuses)):
        stmt = (update(Order).where(Order.id == order_id, Order.payment_status == current)
                .values(payment_status=new, **values)
                .execution_options(synchronize_session=False))
        if fulfilment is None:
            if db.session.execute(stmt).rowcount != 1:  # type: ignore[attr-defined]
                continue
            db.session.add(StatusChange(order_id=order_id, field="payment", from_status=current,
                                        to_status=new, reason=reason, actor=actor))
            return current
        was, to, why = fulfilment
        if to in FULFILMENT_TRANSITIONS[was]:
            stmt = stmt.values(fulfilment_status=case(
                (Order.fulfilment_status == was, to), else_=Order.fulfilment_status))
        stmt = stmt.returning(Order.fulfilment_status)
        now_at = db.session.execute(stmt).scalar_one_or_none()
        if now_at is None:
            continue
        if now_at != to:
            raise InvalidTransition("fulfilment", now_at, to)
        db.session.add_all([
            StatusChange(order_id=order_id, field="payment", from_status=current, to_status=new,
                         reason=reason, actor=actor),
            StatusChange(order_id=order_id, field="fulfilment", from_status=was, to_status=to,
                         reason=why, actor=actor),
        ])
        return current
    return None


def transition_fulfilment_atomically(
    order_id: object, current: FulfilmentStatus, new: FulfilmentStatus, reason: str,
    actor: str = "system",
) -> bool:
    """Move fulfilment status from `current` only; False when the order has moved on meanwhile."""
    from sqlalchemy import update

    if current == new or new not in FULFILMENT_TRANSITIONS[current]:
        return False
    result = db.session.execute(
        update(Order)
        .where(Order.id == order_id, Order.fulfilment_status == current)
        .values(fulfilment_status=new)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    db.session.add(StatusChange(order_id=order_id, field="fulfilment", from_status=current,
                                to_status=new, reason=reason, actor=actor))
    return True
