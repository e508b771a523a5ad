"""Money given back exactly once: asked from the back office, or learnt from the gateway.

An operator's refund first moves the order to `refund_pending` with a conditional UPDATE, so of
five clicks at once only one goes on; the refund and its lines are written, then the gateway is
called with an idempotency key derived from the order, the refund's number and the amount, so
that a retry after a timeout or a crash returns the same refund instead of making another.
Refunds made at the gateway itself (Stripe's dashboard) and lost disputes arrive as webhooks and
are recorded once under the gateway's own id. Whichever way, the lines are cancelled, their
licences revoked and the commission clawed back once (`effects_applied_at`), retried by the
sweep until done.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from commerce.models import (
    Order,
    OrderLine,
    PaymentStatus,
    ProcessedEvent,
    Refund,
    RefundLine,
    RefundOrigin,
    RefundStatus,
    StatusChange,
)
from commerce.status import transition_payment_atomically
from events import RefundSucceeded, emit
from extensions import db, insert_once, utcnow
from payments.base import DisputeNotice, GatewayError, GatewayRefund, RefundNotice

log = logging.getLogger("comptoir.refunds")

P = PaymentStatus
REFUNDABLE = frozenset({P.PAID, P.PARTIALLY_REFUNDED, P.FLAGGED})
RETRY_AFTER = timedelta(minutes=1)  # a pending refund older than this is asked again


class RefundError(ValueError):
    """A refund that cannot be made as asked; nothing was changed."""


class RefundDelayed(Exception):
    """The gateway's answer is unknown (a timeout): the refund stays pending and is asked again."""


# --- what can be refunded -----------------------------------------------------------------------


def refunded_line_ids(order: Order) -> set[uuid.UUID]:
    """Lines of the order held by a refund that is pending or went through."""
    return set(db.session.scalars(
        select(RefundLine.order_line_id).join(Refund)
        .where(Refund.order_id == order.id, Refund.status != RefundStatus.FAILED)))


def open_lines(order: Order) -> list[OrderLine]:
    """The refundable lines (software and renewals, each with its add-ons) not yet refunded."""
    taken = refunded_line_ids(order)
    return [line for line in order.lines if line.parent_line_id is None and line.id not in taken]


def group_total(line: OrderLine) -> int:
    """What refunding a line gives back: the line and its add-ons."""
    return line.total_cents + sum(addon.total_cents for addon in line.addons)


# --- an operator's refund -----------------------------------------------------------------------


def request_refund(
    order_id: uuid.UUID, line_ids: Iterable[uuid.UUID] | None, actor: str, reason: str
) -> Refund:
    """Reserve a refund of some lines (None: all that are left); the gateway is not called yet."""
    order = db.session.get(Order, order_id)
    if order is None:
        raise RefundError("no such order")
    previous = transition_payment_atomically(
        order_id, P.REFUND_PENDING, f"refund asked: {reason}", actor, from_statuses=REFUNDABLE)
    if previous is None:
        db.session.rollback()
        db.session.refresh(order)
        if order.payment_status == P.REFUND_PENDING:
            raise RefundError("a refund of this order is already in progress")
        raise RefundError(f"an order that is {order.payment_status} cannot be refunded")
    db.session.refresh(order)
    available = open_lines(order)
    wanted = set(line_ids) if line_ids is not None else None
    chosen = available if wanted is None else [line for line in available if line.id in wanted]
    if wanted is not None and len(chosen) != len(wanted):
        db.session.rollback()
        raise RefundError("a chosen line is not in this order or was refunded already")
    if not chosen:
        db.session.rollback()
        raise RefundError("nothing is left to refund on this order")
    amount = sum(group_total(line) for line in chosen)
    sequence = _next_sequence(order.id)
    refund = Refund(
        order_id=order.id, sequence=sequence, origin=RefundOrigin.OPERATOR,
        status=RefundStatus.PENDING, amount_cents=amount, currency=order.currency,
        idempotency_key=f"comptoir-refund-{order.id}-{sequence}-{amount}",
        previous_status=str(previous), reason=reason, actor=actor[:320],
    )
    for line in chosen:
        for part in (line, *line.addons):
            refund.lines.append(RefundLine(order_line_id=part.id, amount_cents=part.total_cents))
    db.session.add(refund)
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise RefundError("another refund took these lines at the same moment") from exc
    log.info("refund %s of order %s asked by %s: %d cents", refund.id, order.number, actor,
             amount)
    return refund


def submit(refund_id: uuid.UUID) -> Refund:
    """Ask the gateway for a pending refund (again, safely: the idempotency key is the same)."""
    from payments.services import gateway_for

    refund = _refund(refund_id)
    if refund.status != RefundStatus.PENDING:
        return refund
    order = refund.order
    db.session.execute(update(Refund).where(Refund.id == refund.id)
                       .values(attempts=Refund.attempts + 1)
                       .execution_options(synchronize_session=False))
    db.session.commit()
    try:
        if order.gateway == "partner":
            # The partner billed its client itself (API orders): the partner gives the money back.
            result = GatewayRefund(f"partner-billed:{refund.id}", refund.amount_cents,
                                   refund.currency, "succeeded")
        elif order.gateway == "account":
            # Bought on a reseller's credit line: no card to refund; the credit line's consumer
            # of RefundSucceeded credits the account instead (credit/consumers.py).
            result = GatewayRefund(f"account-credit:{refund.id}", refund.amount_cents,
                                   refund.currency, "succeeded")
        else:
            if not order.gateway_reference:
                raise GatewayError("this order has no payment reference to refund")
            result = gateway_for(order.gateway).refund(
                order.gateway_reference, refund.amount_cents,
                idempotency_key=refund.idempotency_key,
                payment_reference=order.payment_reference,
                metadata={"comptoir_refund": str(refund.id), "order_number": order.number},
            )
    except GatewayError as exc:
        if exc.retryable:
            _note_error(refund.id, str(exc))
            raise RefundDelayed(str(exc)) from exc
        fail(refund.id, str(exc))
        raise RefundError(f"the payment provider refused the refund; nothing was changed: "
                          f"{exc}") from exc
    if not result.gives_money_back:
        fail(refund.id, f"the payment provider answered {result.status}")
        raise RefundError(f"the payment provider answered {result.status}; nothing was changed")
    complete(refund.id, result)
    return _refund(refund_id)


def refund_order(
    order_id: uuid.UUID, line_ids: Iterable[uuid.UUID] | None, actor: str, reason: str
) -> Refund:
    """Refund lines of an order now: reserve, ask the gateway, record (RefundDelayed: later)."""
    refund = request_refund(order_id, line_ids, actor, reason)
    return submit(refund.id)


def complete(refund_id: uuid.UUID, result: GatewayRefund) -> bool:
    """Record that a pending refund went through; False when someone recorded it first."""
    won = db.session.execute(
        update(Refund)
        .where(Refund.id == refund_id, Refund.status == RefundStatus.PENDING)
        .values(status=RefundStatus.SUCCEEDED, gateway_reference=result.reference[:255],
                gateway_status=result.status[:32], completed_at=utcnow(), last_error=None)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if won != 1:
        db.session.rollback()
        return False
    refund = _refund(refund_id, fresh=True)
    _settle(refund.order, refund.actor, f"refund {refund.sequence} went through "
                                        f"({result.reference})")
    db.session.commit()
    log.info("refund %s of order %s went through: %s", refund.id, refund.order.number,
             result.reference)
    apply_effects(refund.id)
    return True


def fail(refund_id: uuid.UUID, error: str) -> None:
    """Record a refused refund: its lines are free again and the order is as it was."""
    refund = _refund(refund_id)
    won = db.session.execute(
        update(Refund).where(Refund.id == refund.id, Refund.status == RefundStatus.PENDING)
        .values(status=RefundStatus.FAILED, last_error=error)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if won != 1:
        db.session.rollback()
        return
    db.session.execute(delete(RefundLine).where(RefundLine.refund_id == refund.id)
                       .execution_options(synchronize_session=False))
    transition_payment_atomically(refund.order_id, P(refund.previous_status),
                                  f"refund {refund.sequence} refused: {error}", "system",
                                  from_statuses=frozenset({P.REFUND_PENDING}))
    db.session.commit()
    log.warning("refund %s of order %s refused: %s", refund.id, refund.order.number, error)


def apply_effects(refund_id: uuid.UUID) -> None:
    """Cancel the refunded lines, revoke their licences, claw back commissions (once)."""
    from fulfilment.operations import refund_lines

    refund = _refund(refund_id, fresh=True)
    if refund.status != RefundStatus.SUCCEEDED or refund.effects_applied_at is not None:
        return
    line_ids = [rl.order_line_id for rl in refund.lines]
    whole = refund.order.payment_status == P.REFUNDED
    refund_lines(refund.order_id, line_ids, actor=refund.actor,
                 reason=f"refund {refund.sequence}: {refund.reason}", whole_order=whole)
    emit(RefundSucceeded(order_id=refund.order_id, refund_id=refund.id))  # its credit note
    db.session.execute(
        update(Refund).where(Refund.id == refund.id, Refund.effects_applied_at.is_(None))
        .values(effects_applied_at=utcnow()).execution_options(synchronize_session=False))
    db.session.commit()


def retry_due(now: object | None = None) -> int:
    """The sweep's part: ask pending refunds again, finish effects left undone; return how many."""
    cutoff = utcnow() - RETRY_AFTER
    done = 0
    pending = db.session.scalars(select(Refund.id).where(
        Refund.status == RefundStatus.PENDING, Refund.origin == RefundOrigin.OPERATOR,
        Refund.created_at < cutoff).limit(50)).all()
    for refund_id in pending:
        try:
            submit(refund_id)
            done += 1
        except (RefundDelayed, RefundError) as exc:
            log.warning("refund %s still not through: %s", refund_id, exc)
    unfinished = db.session.scalars(select(Refund.id).where(
        Refund.status == RefundStatus.SUCCEEDED, Refund.effects_applied_at.is_(None)).limit(50)
    ).all()
    for refund_id in unfinished:
        try:
            apply_effects(refund_id)
            done += 1
        except Exception:  # noqa: BLE001 - isolate each refund; the next sweep tries again
            db.session.rollback()
            log.exception("effects of refund %s not applied yet", refund_id)
    return done


# --- what the gateway tells us ------------------------------------------------------------------


def handle_notice(notice: RefundNotice | DisputeNotice, gateway: str) -> str:
    """Apply a refund or dispute webhook once per event id; return what was done."""
    order = _order_for_payment(notice.payment_reference)
    if not _claim_event(f"{gateway}:{notice.event_id}", notice.event_type,
                        order.id if order else None):
        db.session.rollback()
        return "already_processed"
    if order is None:
        db.session.commit()
        log.warning("%s %s names no payment we know (%s)", gateway, notice.event_type,
                    notice.payment_reference)
        return "unknown_payment"
    if isinstance(notice, RefundNotice):
        outcome = _refunds_learnt(order, notice, gateway)
    else:
        outcome = _dispute(order, notice)
    db.session.commit()
    for refund_id in _unapplied(order.id):
        apply_effects(refund_id)
    return outcome


def _refunds_learnt(order: Order, notice: RefundNotice, gateway: str) -> str:
    from payments.services import gateway_for

    refunds = [notice.refund] if notice.refund is not None else \
        gateway_for(gateway).list_refunds(order.payment_reference or "")
    outcomes = [record_gateway_refund(order, r) for r in refunds]
    return ",".join(outcomes) or "no_refund"


def record_gateway_refund(order: Order, seen: GatewayRefund) -> str:
    """Take note of one refund the gateway holds: ours (complete it) or one made there."""
    ours = _known_refund(seen)
    if ours is not None:
        if ours.status == RefundStatus.PENDING and seen.gives_money_back:
            db.session.commit()
            complete(ours.id, seen)
            return "completed"
        if ours.status == RefundStatus.SUCCEEDED and not seen.gives_money_back:
            ours.gateway_status = seen.status[:32]
            ours.last_error = (f"the payment provider reports this refund {seen.status} after it "
                               "went through: the money did not reach the buyer")
            log.error("refund %s of order %s is now %s at the gateway", ours.id, order.number,
                      seen.status)
            return "failed_after_success"
        ours.gateway_status = seen.status[:32]
        return "known"
    if not seen.gives_money_back:
        return "ignored"
    if seen.amount_cents <= 0 or seen.currency != order.currency:
        log.error("gateway refund %s on order %s: %s %s does not fit the order", seen.reference,
                  order.number, seen.amount_cents, seen.currency)
    return _record_external(order, seen.reference, seen.amount_cents, RefundOrigin.GATEWAY,
                            f"refunded at the payment provider ({seen.reference})")


def _record_external(order: Order, reference: str, amount: int, origin: RefundOrigin,
                     reason: str) -> str:
    """Record money the gateway gave back without us asking, once per its reference."""
    if db.session.scalar(select(Refund.id).where(Refund.gateway_reference == reference)):
        return "known"
    db.session.refresh(order)
    available = open_lines(order)
    chosen = _allocate(available, amount)
    refund = Refund(
        order_id=order.id, sequence=_next_sequence(order.id), origin=origin,
        status=RefundStatus.SUCCEEDED, amount_cents=amount, currency=order.currency,
        idempotency_key=f"{origin}:{reference}"[:120], gateway_reference=reference[:255],
        gateway_status="succeeded", previous_status=str(order.payment_status), reason=reason,
        actor=f"gateway:{origin}", completed_at=utcnow(),
        last_error=None if chosen is not None else
        "the amount matches no set of lines: choose what it covers and refund those lines by hand",
    )
    for line in chosen or []:
        for part in (line, *line.addons):
            refund.lines.append(RefundLine(order_line_id=part.id, amount_cents=part.total_cents))
    try:
        with db.session.begin_nested():
            db.session.add(refund)
    except IntegrityError:
        if db.session.scalar(select(Refund.id).where(Refund.gateway_reference == reference)):
            return "known"
        raise
    if order.payment_status not in (P.REFUND_PENDING, P.DISPUTED):
        _settle(order, refund.actor, reason)
    if chosen is None:
        log.error("order %s: %s of %d cents covers no whole set of lines; an operator decides",
                  order.number, reason, amount)
    return "recorded"


def _allocate(available: list[OrderLine], amount: int) -> list[OrderLine] | None:
    """The lines a gateway refund covers: all that are left, or the one line it equals."""
    if amount == sum(group_total(line) for line in available):
        return available
    matching = [line for line in available if group_total(line) == amount]
    return matching if len(matching) == 1 else None  # two lines of that price: a person decides


def _dispute(order: Order, notice: DisputeNotice) -> str:
    """A chargeback: the order is disputed while it lasts; lost, it is money given back."""
    actor = "gateway:dispute"
    if notice.status.startswith("warning_"):
        return "inquiry"  # an inquiry takes no money
    if notice.event_type == "charge.dispute.closed":
        if notice.status == "lost":
            outcome = _record_external(order, notice.dispute_reference, notice.amount_cents,
                                       RefundOrigin.DISPUTE,
                                       f"dispute {notice.dispute_reference} lost")
            db.session.refresh(order)
            _settle(order, actor, f"dispute {notice.dispute_reference} lost")
            return f"dispute_lost:{outcome}"
        _settle(order, actor, f"dispute {notice.dispute_reference} {notice.status}")
        return f"dispute_{notice.status}"
    moved = transition_payment_atomically(
        order.id, P.DISPUTED,
        f"dispute {notice.dispute_reference} opened: {notice.amount_cents} {notice.currency}",
        actor, from_statuses=REFUNDABLE)
    if moved is not None:
        log.error("order %s is disputed (%s): licences stay active until it is decided",
                  order.number, notice.dispute_reference)
    return "disputed" if moved is not None else "noted"


def _settle(order: Order, actor: str, reason: str) -> None:
    """Move the order's payment status to what its refunds add up to (the caller commits)."""
    db.session.flush()
    db.session.refresh(order)
    target = _settled_status(order)
    current = order.payment_status
    if target != current:
        transition_payment_atomically(order.id, target, reason, actor,
                                      from_statuses=frozenset({P(current)}))


def _settled_status(order: Order) -> PaymentStatus:
    succeeded = db.session.scalars(select(Refund).where(
        Refund.order_id == order.id, Refund.status == RefundStatus.SUCCEEDED)).all()
    covered = {rl.order_line_id for r in succeeded for rl in r.lines}
    if order.lines and all(line.id in covered for line in order.lines):
        return P.REFUNDED
    if succeeded:
        return P.PARTIALLY_REFUNDED
    return P.FLAGGED if order.flag_reason else P.PAID


# --- helpers ------------------------------------------------------------------------------------


def _refund(refund_id: uuid.UUID, *, fresh: bool = False) -> Refund:
    refund = db.session.get(Refund, refund_id, populate_existing=fresh)
    if refund is None:
        raise RefundError(f"no refund {refund_id}")
    return refund


def _next_sequence(order_id: uuid.UUID) -> int:
    last = db.session.scalar(
        select(func.coalesce(func.max(Refund.sequence), 0)).where(Refund.order_id == order_id)
    )
    return int(last or 0) + 1


def _note_error(refund_id: uuid.UUID, error: str) -> None:
    db.session.execute(update(Refund).where(Refund.id == refund_id)
                       .values(last_error=error).execution_options(synchronize_session=False))
    db.session.commit()


def _known_refund(seen: GatewayRefund) -> Refund | None:
    ours = db.session.scalar(select(Refund).where(Refund.gateway_reference == seen.reference))
    if ours is not None:
        return ours
    try:
        refund_id = uuid.UUID(seen.metadata.get("comptoir_refund", ""))
    except ValueError:
        return None
    return db.session.get(Refund, refund_id)


def _order_for_payment(reference: str | None) -> Order | None:
    if not reference:
        return None
    return db.session.scalar(select(Order).where(Order.payment_reference == reference))


def _claim_event(event_id: str, kind: str, order_id: uuid.UUID | None) -> bool:
    return insert_once(ProcessedEvent, id=event_id[:255], kind=kind[:80], order_id=order_id)


def _unapplied(order_id: uuid.UUID) -> list[uuid.UUID]:
    return list(db.session.scalars(select(Refund.id).where(
        Refund.order_id == order_id, Refund.status == RefundStatus.SUCCEEDED,
        Refund.effects_applied_at.is_(None))))


def refunds_of(order: Order) -> list[Refund]:
    """The order's refunds, oldest first, for the back office."""
    return list(db.session.scalars(
        select(Refund).where(Refund.order_id == order.id).order_by(Refund.sequence)))


def dispute_opened_from(order: Order) -> str | None:
    """The payment status the order had when its dispute opened (for display)."""
    return db.session.scalar(
        select(StatusChange.from_status).where(
            StatusChange.order_id == order.id, StatusChange.field == "payment",
            StatusChange.to_status == P.DISPUTED)
        .order_by(StatusChange.created_at.desc()).limit(1))
