"""Line and unit state machines: explicit transition tables, one audit row per change."""

from __future__ import annotations

from commerce.status import InvalidTransition
from extensions import ACTOR_LENGTH, db
from fulfilment.models import (
    DeliveredUnit,
    FulfilmentLine,
    FulfilmentStatusChange,
    LineStatus,
    UnitStatus,
)

L, U = LineStatus, UnitStatus

LINE_TRANSITIONS: dict[LineStatus, frozenset[LineStatus]] = {
    L.PENDING: frozenset({L.ORDERED, L.DELIVERED, L.NEEDS_ATTENTION, L.CANCELLED}),
    # ORDERED -> PENDING: the wholesaler has no order under our reference, so we buy again.
    L.ORDERED: frozenset({L.PENDING, L.DELIVERED, L.NEEDS_ATTENTION, L.CANCELLED}),
    # A late delivery (a callback, a poll) of a line waiting for an operator is still taken.
    L.NEEDS_ATTENTION: frozenset({L.PENDING, L.ORDERED, L.DELIVERED, L.CANCELLED}),
    L.DELIVERED: frozenset({L.CANCELLED}),
    L.CANCELLED: frozenset(),
}

UNIT_TRANSITIONS: dict[UnitStatus, frozenset[UnitStatus]] = {
    U.ACTIVE: frozenset({U.REPLACED, U.REVOKED}),
    U.REPLACED: frozenset(),
    U.REVOKED: frozenset(),
}


def set_line_status(line: FulfilmentLine, new: LineStatus, reason: str = "",
                    actor: str = "system") -> bool:
    """Move a line along the table and audit it (the caller commits); False if already there."""
    current = LineStatus(line.status)
    if current == new:
        return False
    if new not in LINE_TRANSITIONS[current]:
        raise InvalidTransition("line", current, new)
    line.status = new
    db.session.add(FulfilmentStatusChange(line_id=line.id, from_status=current, to_status=new,
                                          reason=reason[:2000], actor=actor[:ACTOR_LENGTH]))
    return True


def set_unit_status(unit: DeliveredUnit, new: UnitStatus, reason: str = "",
                    actor: str = "system") -> bool:
    """Move a delivered unit along the table and audit it (the caller commits)."""
    current = UnitStatus(unit.status)
    if current == new:
        return False
    if new not in UNIT_TRANSITIONS[current]:
        raise InvalidTransition("unit", current, new)
    unit.status = new
    db.session.add(FulfilmentStatusChange(line_id=unit.fulfilment_line_id, unit_id=unit.id,
                                          from_status=current, to_status=new,
                                          reason=reason[:2000], actor=actor[:ACTOR_LENGTH]))
    return True
