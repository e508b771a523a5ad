"""The audit of a commission programme: who changed a version, promotion or multiplier, when, how.

Each operator change writes one ProgrammeChange row in the change's transaction, with the
subject's values before and after (JSON-ready: Decimal and datetime as strings).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from commissions.models import (
    ProductMultiplier,
    Programme,
    ProgrammeChange,
    ProgrammeVersion,
    Promotion,
)
from extensions import ACTOR_LENGTH, db


def _when(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def programme_values(programme: Programme) -> dict[str, Any]:
    return {"name": programme.name, "currency": programme.currency,
            "attribution_days": programme.attribution_days,
            "holding_hours": programme.holding_hours,
            "minimum_payout_cents": programme.minimum_payout_cents}


def version_values(version: ProgrammeVersion) -> dict[str, Any]:
    return {"status": str(version.status), "valid_from": _when(version.valid_from),
            "rates": dict(version.rates), "note": version.note}


def promotion_values(promotion: Promotion) -> dict[str, Any]:
    return {"name": promotion.name, "multiplier": str(promotion.multiplier),
            "starts_at": _when(promotion.starts_at), "ends_at": _when(promotion.ends_at),
            "family": promotion.family}


def multiplier_values(multiplier: ProductMultiplier) -> dict[str, Any]:
    return {"name": multiplier.name, "factor": str(multiplier.factor),
            "product_codes": list(multiplier.product_codes or []), "family": multiplier.family,
            "starts_at": _when(multiplier.starts_at), "ends_at": _when(multiplier.ends_at)}


def record(
    programme: Programme, action: str, actor: str, now: datetime, *,
    subject_id: uuid.UUID | None = None,
    before: dict[str, Any] | None = None, after: dict[str, Any] | None = None,
) -> ProgrammeChange:
    """Write one audit row of a programme change (the caller's transaction)."""
    change = ProgrammeChange(programme_id=programme.id, action=action,
                             actor=actor.strip()[:ACTOR_LENGTH] or "system",
                             subject_id=subject_id, before=before, after=after, at=now)
    db.session.add(change)
    return change


@dataclass(frozen=True)
class ChangeView:
    """One audit row as the programme page and `comptoir programmes show` print it."""

    at: datetime
    actor: str
    action: str
    changed: dict[str, tuple[Any, Any]]


def _changed(before: dict[str, Any] | None, after: dict[str, Any] | None
             ) -> dict[str, tuple[Any, Any]]:
    """The fields whose value differs, as (before, after); everything for a creation."""
    before, after = before or {}, after or {}
    keys = list(dict.fromkeys([*before, *after]))
    return {k: (before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)}


def history(programme: Programme, limit: int = 100) -> list[ChangeView]:
    """The programme's changes, newest first."""
    rows = db.session.scalars(
        select(ProgrammeChange).where(ProgrammeChange.programme_id == programme.id)
        .order_by(ProgrammeChange.at.desc(), ProgrammeChange.id).limit(limit)).all()
    return [ChangeView(r.at, r.actor, r.action, _changed(r.before, r.after)) for r in rows]
