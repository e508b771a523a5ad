"""Commission tables: resellers, their clients, programmes, attributions, the ledger and payouts."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    event,
    inspect,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from commerce.models import Order, Partner, UTCDateTime, utcnow
from extensions import ACTOR_LENGTH, db


class EntryKind(StrEnum):
    """What a ledger entry records."""

    ACCRUAL = "accrual"
    CLAWBACK = "clawback"
    ADJUSTMENT = "adjustment"


class VersionStatus(StrEnum):
    """A programme version is drafted, then published (immutable from then on) or discarded."""

    DRAFT = "draft"
    PUBLISHED = "published"
    DISCARDED = "discarded"


class AttributionRule(StrEnum):
    """Which rule gave an order to a reseller."""

    ASSISTED = "assisted"
    API = "api"
    CODE = "code"
    COOKIE = "cookie"
    ATTACHED_CLIENT = "attached_client"


class Reseller(db.Model):  # type: ignore[name-defined]
    """A reseller in the network a partner runs, known by its referral code."""

    __tablename__ = "resellers"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id"), index=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(160))
    email: Mapped[str] = mapped_column(String(254))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    partner: Mapped[Partner] = relationship()


class ResellerClient(db.Model):  # type: ignore[name-defined]
    """A buyer attached to a reseller: later orders of that buyer in the network credit it."""

    __tablename__ = "reseller_clients"
    __table_args__ = (UniqueConstraint("partner_id", "email"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id"))
    reseller_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("resellers.id"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    attached_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    rule: Mapped[str] = mapped_column(String(24))
    source_order_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("orders.id"))
    changed_by: Mapped[str] = mapped_column(String(ACTOR_LENGTH), default="system")

    reseller: Mapped[Reseller] = relationship()


class Programme(db.Model):  # type: ignore[name-defined]
    """The commission programme of one network: attribution window, holding period, minimum."""

    __tablename__ = "commission_programmes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id"), unique=True)
    name: Mapped[str] = mapped_column(String(160))
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    attribution_days: Mapped[int] = mapped_column(Integer, default=30)
    holding_hours: Mapped[int] = mapped_column(Integer, default=48)
    minimum_payout_cents: Mapped[int] = mapped_column(Integer, default=5000)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    versions: Mapped[list[ProgrammeVersion]] = relationship(
        back_populates="programme", cascade="all, delete-orphan",
        order_by="ProgrammeVersion.valid_from",
    )
    promotions: Mapped[list[Promotion]] = relationship(
        back_populates="programme", cascade="all, delete-orphan", order_by="Promotion.starts_at"
    )
    multipliers: Mapped[list[ProductMultiplier]] = relationship(
        back_populates="programme", cascade="all, delete-orphan",
        order_by="ProductMultiplier.starts_at",
    )
    partner: Mapped[Partner] = relationship()

    __table_args__ = (
        CheckConstraint("attribution_days > 0", name="attribution_days_positive"),
        CheckConstraint("holding_hours >= 0", name="holding_hours_not_negative"),
        CheckConstraint("minimum_payout_cents >= 0", name="minimum_not_negative"),
    )


class ProgrammeVersion(db.Model):  # type: ignore[name-defined]
    """The rates of a programme from a date on; rates are Decimal strings (see rules.Rates).

    A draft has no valid_from yet and can be edited or discarded; publishing gives it its
    valid_from, and from then on neither its rates nor its date change (see `_refuse_rewrite`).
    """

    __tablename__ = "commission_programme_versions"
    __table_args__ = (
        UniqueConstraint("programme_id", "valid_from"),
        CheckConstraint("status IN ('draft', 'published', 'discarded')", name="status_known"),
        CheckConstraint("status <> 'published' OR valid_from IS NOT NULL",
                        name="published_dated"),
        # One open draft per programme: a double click on "new draft" cannot make two.
        Index("uq_commission_programme_versions_one_draft", "programme_id", unique=True,
              postgresql_where=text("status = 'draft'"), sqlite_where=text("status = 'draft'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    programme_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("commission_programmes.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[VersionStatus] = mapped_column(String(16), default=VersionStatus.PUBLISHED,
                                                  server_default="published")
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rates: Mapped[dict[str, Any]] = mapped_column(JSON)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(ACTOR_LENGTH), default="system",
                                            server_default="system")
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    published_by: Mapped[str | None] = mapped_column(String(ACTOR_LENGTH))

    programme: Mapped[Programme] = relationship(back_populates="versions")

    @property
    def label(self) -> str:
        if self.valid_from is None:
            return str(self.status)
        return f"v{self.valid_from.date().isoformat()}"


@event.listens_for(ProgrammeVersion, "before_update")
def _refuse_rewrite(mapper: Any, connection: Any, version: ProgrammeVersion) -> None:
    """A published version is history: refuse any change to its rates or date."""
    state: Any = inspect(version)
    was_published = state.attrs.status.history.deleted or [version.status]
    if VersionStatus.PUBLISHED not in was_published:
        return
    for name in ("rates", "valid_from", "programme_id", "status"):
        if state.attrs[name].history.has_changes():
            raise ValueError(f"programme version {version.label} is published: its {name} "
                             "cannot change")


class Promotion(db.Model):  # type: ignore[name-defined]
    """A multiplier over commissions in [starts_at, ends_at), for one family or (None) all."""

    __tablename__ = "commission_promotions"
    __table_args__ = (
        CheckConstraint("multiplier > 0", name="multiplier_positive"),
        CheckConstraint("ends_at > starts_at", name="window_ordered"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    programme_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("commission_programmes.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(160))
    multiplier: Mapped[Decimal] = mapped_column(Numeric(6, 3))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    family: Mapped[str | None] = mapped_column(String(32))
    created_by: Mapped[str] = mapped_column(String(ACTOR_LENGTH), default="system",
                                            server_default="system")

    programme: Mapped[Programme] = relationship(back_populates="promotions")


class ProductMultiplier(db.Model):  # type: ignore[name-defined]
    """Sales of some products (by code) or of a family count `factor` times in [starts_at, ends_at).

    Applied after the rate and any promotions: they multiply (rules.commission_for).
    """

    __tablename__ = "commission_product_multipliers"
    __table_args__ = (
        CheckConstraint("factor > 0", name="factor_positive"),
        CheckConstraint("ends_at > starts_at", name="window_ordered"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    programme_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("commission_programmes.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(160))
    factor: Mapped[Decimal] = mapped_column(Numeric(6, 3))
    # Either product codes (a JSON list) or a family; the service refuses both or neither.
    product_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    family: Mapped[str | None] = mapped_column(String(32))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(ACTOR_LENGTH), default="system")

    programme: Mapped[Programme] = relationship(back_populates="multipliers")


class ProgrammeChange(db.Model):  # type: ignore[name-defined]
    """Who changed a programme, when, and how: the subject's values before and after."""

    __tablename__ = "commission_programme_changes"
    __table_args__ = (Index("ix_commission_programme_changes_programme_at", "programme_id", "at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    programme_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("commission_programmes.id", ondelete="CASCADE")
    )
    action: Mapped[str] = mapped_column(String(40))
    # What changed (a version, promotion or multiplier); no foreign key: a withdrawn promotion's
    # audit outlives it.
    subject_id: Mapped[uuid.UUID | None] = mapped_column()
    actor: Mapped[str] = mapped_column(String(ACTOR_LENGTH))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OrderAttribution(db.Model):  # type: ignore[name-defined]
    """Which reseller an order belongs to, and by which rule; one per order."""

    __tablename__ = "commission_order_attributions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), unique=True
    )
    reseller_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("resellers.id"), index=True)
    rule: Mapped[str] = mapped_column(String(24))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    order: Mapped[Order] = relationship()
    reseller: Mapped[Reseller] = relationship()


class Payout(db.Model):  # type: ignore[name-defined]
    """One payment to a reseller, with its statement."""

    __tablename__ = "commission_payouts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    reseller_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("resellers.id"), index=True)
    number: Mapped[str] = mapped_column(String(24), unique=True)
    period: Mapped[str] = mapped_column(String(40))
    amount_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    statement_csv: Mapped[str] = mapped_column(Text)
    statement_pdf: Mapped[bytes] = mapped_column(LargeBinary)

    reseller: Mapped[Reseller] = relationship()

    __table_args__ = (CheckConstraint("amount_cents > 0", name="amount_positive"),)


class LedgerEntry(db.Model):  # type: ignore[name-defined]
    """One append-only ledger line; balances are sums of these, never stored counters."""

    __tablename__ = "commission_ledger_entries"
    # Adjustments have no order line; NULLs are distinct, so the constraint never blocks them.
    __table_args__ = (
        UniqueConstraint("order_line_id", "reseller_id", "kind"),
        CheckConstraint("kind IN ('accrual', 'clawback', 'adjustment')", name="kind_known"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    reseller_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("resellers.id"), index=True)
    order_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("orders.id"), index=True)
    order_line_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("order_lines.id"))
    kind: Mapped[EntryKind] = mapped_column(String(16))
    amount_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    rule: Mapped[str] = mapped_column(String(40))
    rate: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))
    programme_version_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("commission_programme_versions.id")
    )
    explanation: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    payable_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    payout_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("commission_payouts.id"), index=True
    )
    reason: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(ACTOR_LENGTH), default="system")

    reseller: Mapped[Reseller] = relationship()
    payout: Mapped[Payout | None] = relationship()
    programme_version: Mapped[ProgrammeVersion | None] = relationship()
