"""Commission tables: resellers, their clients, programmes, attributions, the ledger and payouts."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
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


class ProgrammeRole(StrEnum):
    """How a reseller works in its network (Microsoft CSP's words, docs/commissions.md).

    A direct reseller deals with the network's partner itself and keeps the whole margin of its
    sales; a distributor is a reseller that works with indirect resellers; an indirect reseller
    goes through its distributor, and the margin of each of its sales is split between them.
    """

    DIRECT = "direct"
    DISTRIBUTOR = "distributor"
    INDIRECT = "indirect"


class Beneficiary(StrEnum):
    """Whose share of a line's margin a ledger entry holds."""

    SELLER = "seller"  # the reseller the order is attributed to
    DISTRIBUTOR = "distributor"  # the seller's distributor, when the seller is indirect


class BenefitStatus(StrEnum):
    """How a year of the newcomer offer's self-use benefit is paid for."""

    FREE = "free"
    BILLED = "billed"
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
    programme_role: Mapped[ProgrammeRole] = mapped_column(
        String(16), default=ProgrammeRole.DIRECT, server_default=ProgrammeRole.DIRECT.value)
    # An indirect reseller's distributor, a reseller of the same network (commissions/channel.py).
    distributor_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("resellers.id"), index=True)
    # The language of the portal and of the digest e-mail (fr or en); None until the reseller
    # or the operator chooses one: the portal then follows the visitor's choice, the digest
    # the shop's default language.
    locale: Mapped[str | None] = mapped_column(String(5))
    # Where payouts go (commissions/bank.py validates them): all three, or none.
    bank_iban: Mapped[str | None] = mapped_column(String(34))
    bank_bic: Mapped[str | None] = mapped_column(String(11))
    bank_holder: Mapped[str | None] = mapped_column(String(70))
    bank_details_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    partner: Mapped[Partner] = relationship()
    distributor: Mapped[Reseller | None] = relationship(remote_side="Reseller.id")

    __table_args__ = (
        CheckConstraint("programme_role IN ('direct', 'distributor', 'indirect')",
                        name="programme_role_known"),
        CheckConstraint("(programme_role = 'indirect') = (distributor_id IS NOT NULL)",
                        name="indirect_has_distributor"),
        CheckConstraint("locale IS NULL OR locale IN ('fr', 'en')", name="locale_known"),
    )

    @property
    def has_bank_details(self) -> bool:
        return bool(self.bank_iban and self.bank_bic and self.bank_holder)


class ResellerChange(db.Model):  # type: ignore[name-defined]
    """Who changed a reseller's programme role, distributor or language, when and why."""

    __tablename__ = "reseller_changes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    reseller_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("resellers.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(24))
    actor: Mapped[str] = mapped_column(String(ACTOR_LENGTH))
    # {field: [before, after]}
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reason: Mapped[str] = mapped_column(String(300), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BankDetailsChange(db.Model):  # type: ignore[name-defined]
    """Who changed a reseller's bank details, when and from where; IBANs masked only."""

    __tablename__ = "reseller_bank_details_changes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    reseller_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("resellers.id", ondelete="CASCADE"), index=True)
    actor: Mapped[str] = mapped_column(String(ACTOR_LENGTH))
    source: Mapped[str | None] = mapped_column(String(64))
    # {"iban": [before, after], "bic": [...], "holder": [...]}, the IBANs masked
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ResellerClient(db.Model):  # type: ignore[name-defined]
    """A buyer attached to a reseller: later orders of that buyer in the network credit it."""

    __tablename__ = "reseller_clients"
    # The portal lists a reseller's clients newest first, a page at a time.
    __table_args__ = (UniqueConstraint("partner_id", "email"),
                      Index("ix_reseller_clients_reseller_attached", "reseller_id", "attached_at"))

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id"))
    reseller_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("resellers.id"))
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
    # The distributor's share of the margin of an indirect reseller's sale (0.30 = 30%).
    distributor_share: Mapped[Decimal] = mapped_column(
        Numeric(5, 4), default=Decimal(0), server_default="0")
    # The newcomer offer (commissions/benefits.py): a self-use benefit, its public price
    # (excluding VAT, in the programme's currency) and from when new resellers get it.
    benefit_name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    benefit_price_cents: Mapped[int | None] = mapped_column(Integer)
    benefit_starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
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
        CheckConstraint("distributor_share >= 0 AND distributor_share < 1",
                        name="distributor_share_fraction"),
        CheckConstraint("benefit_price_cents IS NULL OR benefit_price_cents > 0",
                        name="benefit_price_positive"),
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


class PayoutStatus(StrEnum):
    """Where a payout stands: computed, waiting for the reseller's bank details, in a file."""

    COMPUTED = "computed"
    AWAITING_BANK_DETAILS = "awaiting_bank_details"
    IN_FILE = "in_file"
    # Paid before credit-transfer files existed (the migration's rows): never filed again.
    SETTLED = "settled"


UNFILED = (PayoutStatus.COMPUTED, PayoutStatus.AWAITING_BANK_DETAILS)


class PayoutBatch(db.Model):  # type: ignore[name-defined]
    """One SEPA credit-transfer file (pain.001) of a payout run: one transfer per payout."""

    __tablename__ = "commission_payout_batches"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    number: Mapped[str] = mapped_column(String(24), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    execution_date: Mapped[date] = mapped_column(Date, index=True)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    debtor_name: Mapped[str] = mapped_column(String(70))
    debtor_iban: Mapped[str] = mapped_column(String(34))
    debtor_bic: Mapped[str] = mapped_column(String(11))
    schema: Mapped[str] = mapped_column(String(20))
    transfers: Mapped[int] = mapped_column(Integer)
    total_cents: Mapped[int] = mapped_column(Integer)
    xml: Mapped[bytes] = mapped_column(LargeBinary)

    payouts: Mapped[list[Payout]] = relationship(back_populates="batch",
                                                 order_by="Payout.number")

    __table_args__ = (CheckConstraint("transfers > 0", name="transfers_positive"),)


class Payout(db.Model):  # type: ignore[name-defined]
    """One payment to a reseller, with its statement and, once filed, its SEPA transfer."""

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
    status: Mapped[PayoutStatus] = mapped_column(String(24), default=PayoutStatus.COMPUTED)
    # The creditor account as filed: a copy, so later changes never rewrite a sent transfer.
    batch_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("commission_payout_batches.id"), index=True)
    iban: Mapped[str | None] = mapped_column(String(34))
    bic: Mapped[str | None] = mapped_column(String(11))
    holder: Mapped[str | None] = mapped_column(String(70))

    reseller: Mapped[Reseller] = relationship()
    batch: Mapped[PayoutBatch | None] = relationship(back_populates="payouts")

    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint("status IN ('computed', 'awaiting_bank_details', 'in_file', 'settled')",
                        name="status_known"),
        CheckConstraint("(status = 'in_file') = (batch_id IS NOT NULL)", name="filed_in_batch"),
    )


class PayoutStatusChange(db.Model):  # type: ignore[name-defined]
    """One audited move of a payout's status (commissions/payouts.py's transition table)."""

    __tablename__ = "commission_payout_status_changes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    payout_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("commission_payouts.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(24))
    to_status: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str] = mapped_column(String(300), default="")
    actor: Mapped[str] = mapped_column(String(ACTOR_LENGTH), default="system")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LedgerEntry(db.Model):  # type: ignore[name-defined]
    """One append-only ledger line; balances are sums of these, never stored counters."""

    __tablename__ = "commission_ledger_entries"
    # Adjustments have no order line; NULLs are distinct, so the constraint never blocks them.
    __table_args__ = (
        UniqueConstraint("order_line_id", "reseller_id", "kind"),
        CheckConstraint("kind IN ('accrual', 'clawback', 'adjustment')", name="kind_known"),
        CheckConstraint("beneficiary IN ('seller', 'distributor')", name="beneficiary_known"),
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
    # Whose share of the line's margin this is, and which fraction of it (NULL: the whole).
    beneficiary: Mapped[Beneficiary] = mapped_column(
        String(16), default=Beneficiary.SELLER, server_default=Beneficiary.SELLER.value)
    share: Mapped[Decimal | None] = mapped_column(Numeric(5, 4))

    reseller: Mapped[Reseller] = relationship()
    payout: Mapped[Payout | None] = relationship()
    programme_version: Mapped[ProgrammeVersion | None] = relationship()


class BenefitPeriod(db.Model):  # type: ignore[name-defined]
    """One year of a reseller's self-use benefit: free, or billed at half the public price.

    Year 1 starts when the reseller joins; each anniversary's decision is the next year's row,
    unique per reseller and year, written with its ledger charge in one transaction: a second
    or concurrent run of the job cannot decide an anniversary twice.
    """

    __tablename__ = "reseller_benefit_periods"
    __table_args__ = (
        UniqueConstraint("reseller_id", "year"),
        CheckConstraint("year >= 1", name="year_positive"),
        CheckConstraint("ends_at > starts_at", name="period_ordered"),
        CheckConstraint("status IN ('free', 'billed')", name="status_known"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    reseller_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("resellers.id"), index=True)
    programme_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("commission_programmes.id"))
    year: Mapped[int] = mapped_column(Integer)
    benefit_name: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[BenefitStatus] = mapped_column(String(16))
    # What decided it: the sales counted in the year before (NULL for year 1) ...
    sales_counted: Mapped[int | None] = mapped_column(Integer)
    # ... and, when billed, the price charged and the ledger entry that charges it.
    price_cents: Mapped[int] = mapped_column(Integer, default=0)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    ledger_entry_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("commission_ledger_entries.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    reseller: Mapped[Reseller] = relationship()
    ledger_entry: Mapped[LedgerEntry | None] = relationship()
