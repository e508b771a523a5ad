"""Partners, catalogue, buyers and orders."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from flask_login import UserMixin
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
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import ACTOR_LENGTH, UTCDateTime, db, utcnow


def localised(row: Any, field: str) -> str:
    """A text in the page's language: the row's translation for it, else the French text."""
    french = str(getattr(row, field) or "")
    translations = getattr(row, "translations", None) or {}
    if not translations:
        return french
    from flask import has_app_context
    from flask_babel import get_locale

    if not has_app_context():  # a page's language, or the one an e-mail is forced to
        return french
    locale = str(get_locale() or "fr")
    text = (translations.get(locale) or {}).get(field)
    return str(text) if text else french


class PartnerKind(StrEnum):
    RETAIL = "retail"  # a tier-one retail site
    OEM = "oem"  # a PC maker's store
    TELECOM = "telecom"  # a telecom operator
    CHANNEL = "channel"  # a channel partner, with its network of resellers
    HISTORIC = "historic"  # a historic partner
    DIRECT = "direct"  # the platform's own shop


class PartnerStatus(StrEnum):
    """A shop is open only once the operator opens it, which needs its legal identity."""

    DRAFT = "draft"
    OPEN = "open"
    SUSPENDED = "suspended"


class MerchantOfRecord(StrEnum):
    """Who sells to the buyer, in whose name invoices are issued."""

    PARTNER = "partner"
    PLATFORM = "platform"


class Partner(db.Model):  # type: ignore[name-defined]
    __tablename__ = "partners"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[PartnerKind] = mapped_column(String(16))
    wholesaler_code: Mapped[str] = mapped_column(String(32))
    allow_failover: Mapped[bool] = mapped_column(Boolean, default=False)
    backup_by_default: Mapped[bool] = mapped_column(Boolean, default=False)
    primary_color: Mapped[str] = mapped_column(String(7), default="#1f4e79")
    secondary_color: Mapped[str] = mapped_column(String(7), default="#f4f6f8")
    accent_color: Mapped[str] = mapped_column(String(7), default="#c2410c")
    font: Mapped[str] = mapped_column(String(40), default="system")
    logo_url: Mapped[str | None] = mapped_column(String(500))
    # Up to COMPTOIR_LOGO_MAX_BYTES: read only by the logo's own route, not with every partner
    # (pages and orders load the partner); logo_mime says whether there is one.
    logo_data: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    logo_mime: Mapped[str | None] = mapped_column(String(40))
    tagline: Mapped[str] = mapped_column(String(200), default="")
    legal_notice: Mapped[str] = mapped_column(Text, default="")
    support_email: Mapped[str] = mapped_column(String(200), default="")
    support_phone: Mapped[str] = mapped_column(String(40), default="")
    theme: Mapped[str | None] = mapped_column(String(40))
    embed_origins: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[PartnerStatus] = mapped_column(String(16), default=PartnerStatus.DRAFT)
    merchant_of_record: Mapped[MerchantOfRecord] = mapped_column(
        String(16), default=MerchantOfRecord.PLATFORM
    )
    # The legal identity the shop's legal notice publishes (LCEN art. 6 III, Code de la
    # consommation L.616-1): without all of it, the shop does not open (partners/validation.py).
    legal_name: Mapped[str] = mapped_column(String(160), default="")
    legal_form: Mapped[str] = mapped_column(String(40), default="")
    siren: Mapped[str] = mapped_column(String(9), default="")
    rcs_city: Mapped[str] = mapped_column(String(80), default="")
    vat_number: Mapped[str] = mapped_column(String(20), default="")
    registered_office: Mapped[str] = mapped_column(String(300), default="")
    publication_director: Mapped[str] = mapped_column(String(120), default="")
    host_details: Mapped[str] = mapped_column(String(300), default="")
    mediator_name: Mapped[str] = mapped_column(String(160), default="")
    mediator_url: Mapped[str] = mapped_column(String(300), default="")
    # Texts in other languages than French: {"en": {"tagline": "…"}}.
    translations: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Whether the partner has an active webhook endpoint, kept by webhooks/services.py: the
    # outbox consumer reads it from the loaded order instead of asking the database each time.
    webhooks_active: Mapped[bool] = mapped_column(Boolean, default=False)
    # When the earliest scheduled price change not yet applied is due (partners/services.py).
    next_price_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    domains: Mapped[list[PartnerDomain]] = relationship(
        back_populates="partner", cascade="all, delete-orphan", order_by="PartnerDomain.host"
    )
    offers: Mapped[list[PartnerProduct]] = relationship(
        back_populates="partner", cascade="all, delete-orphan"
    )

    @property
    def is_open(self) -> bool:
        return self.status == PartnerStatus.OPEN

    @property
    def display_tagline(self) -> str:
        return localised(self, "tagline")

    @property
    def embed_origin_list(self) -> list[str]:
        return [o for o in self.embed_origins.split() if o]

    @property
    def primary_host(self) -> str | None:
        """The partner's own domain for links sent outside a page (e-mails), if it has one."""
        if not self.domains:
            return None
        marked = [d.host for d in self.domains if d.is_primary]
        return (marked or sorted(d.host for d in self.domains))[0]


class PartnerDomain(db.Model):  # type: ignore[name-defined]
    """A host name that serves one partner's shop."""

    __tablename__ = "partner_domains"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    host: Mapped[str] = mapped_column(String(253), unique=True)
    partner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), index=True
    )
    # The domain that links in e-mails use; without one marked, the first by name.
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    partner: Mapped[Partner] = relationship(back_populates="domains")


class LicenceType(StrEnum):
    PERPETUAL = "perpetual"
    SUBSCRIPTION = "subscription"


class ProductKind(StrEnum):
    SOFTWARE = "software"
    ADDON = "addon"


class Product(db.Model):  # type: ignore[name-defined]
    __tablename__ = "products"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    code: Mapped[str] = mapped_column(String(60), unique=True)
    kind: Mapped[ProductKind] = mapped_column(String(16), default=ProductKind.SOFTWARE)
    family: Mapped[str] = mapped_column(String(32), index=True)
    # The product line whose editions a buyer compares and picks from (Office 2024: Famille or
    # Famille et Petite Entreprise, PC or Mac); blank for a product compared with none.
    line: Mapped[str] = mapped_column(String(40), default="")
    name: Mapped[str] = mapped_column(String(160))
    edition: Mapped[str] = mapped_column(String(80), default="")
    platform: Mapped[str] = mapped_column(String(16), default="windows")
    seats: Mapped[int] = mapped_column(Integer, default=1)
    seat_unit: Mapped[str] = mapped_column(String(16), default="device")
    licence_type: Mapped[LicenceType] = mapped_column(String(16), default=LicenceType.PERPETUAL)
    term_months: Mapped[int | None] = mapped_column(Integer)
    list_price_cents: Mapped[int] = mapped_column(Integer)
    vat_rate: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=Decimal("20.00"))
    description: Mapped[str] = mapped_column(Text, default="")
    image: Mapped[str] = mapped_column(String(200), default="")
    # The operator's picture (commerce/pictures.py): its renditions live in product_pictures;
    # pages need only these, read with the product. The digest names the picture's version.
    picture_digest: Mapped[str | None] = mapped_column(String(16))
    picture_alt: Mapped[str] = mapped_column(String(200), default="")
    picture_width: Mapped[int | None] = mapped_column(Integer)
    picture_height: Mapped[int | None] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Texts in other languages than French: {"en": {"name": "…", "description": "…",
    # "picture_alt": "…"}}.
    translations: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    skus: Mapped[list[ProductSku]] = relationship(
        back_populates="product", cascade="all, delete-orphan"
    )

    __table_args__ = (
        CheckConstraint("list_price_cents >= 0", name="price_not_negative"),
        # The few add-ons and withdrawn products, found without reading the whole catalogue.
        Index("ix_products_kind_active", "kind", "is_active"),
    )

    def sku_for(self, wholesaler_code: str) -> str | None:
        return next((s.sku for s in self.skus if s.wholesaler_code == wholesaler_code), None)

    @property
    def display_name(self) -> str:
        return localised(self, "name")

    @property
    def display_description(self) -> str:
        return localised(self, "description")

    @property
    def display_picture_alt(self) -> str:
        return localised(self, "picture_alt")


class ProductPicture(db.Model):  # type: ignore[name-defined]
    """One rendition of a product's picture, at one width (commerce/pictures.py makes them)."""

    __tablename__ = "product_pictures"
    __table_args__ = (UniqueConstraint("product_id", "width"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(16))
    mime: Mapped[str] = mapped_column(String(40))
    data: Mapped[bytes] = mapped_column(LargeBinary)


class ProductSku(db.Model):  # type: ignore[name-defined]
    """The reference of a product at one wholesaler."""

    __tablename__ = "product_skus"
    __table_args__ = (UniqueConstraint("product_id", "wholesaler_code"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    wholesaler_code: Mapped[str] = mapped_column(String(32))
    sku: Mapped[str] = mapped_column(String(80))
    product: Mapped[Product] = relationship(back_populates="skus")


class PartnerProduct(db.Model):  # type: ignore[name-defined]
    """A product in a partner's catalogue, at the partner's price."""

    __tablename__ = "partner_products"
    __table_args__ = (
        UniqueConstraint("partner_id", "product_id"),
        CheckConstraint("price_cents >= 0", name="price_not_negative"),
        # The shop lists a partner's offers on sale in this order, a page at a time, and
        # counts them: the index hands a page's rows without sorting the whole catalogue, and
        # the count without reading the table.
        Index("ix_partner_products_partner_listed", "partner_id", "position", "available"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"))
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    price_cents: Mapped[int] = mapped_column(Integer)
    # The range the partner's own staff may set the price in, fixed by the operator; without
    # both, only the operator changes this price.
    min_price_cents: Mapped[int | None] = mapped_column(Integer)
    max_price_cents: Mapped[int | None] = mapped_column(Integer)
    available: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)

    partner: Mapped[Partner] = relationship(back_populates="offers")
    product: Mapped[Product] = relationship()


class Role(StrEnum):
    BUYER = "buyer"
    OPERATOR = "operator"
    RESELLER = "reseller"
    PARTNER = "partner"  # a partner's staff, in its console (partners/members.py)


class User(UserMixin, db.Model):  # type: ignore[name-defined]
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(String(16), default=Role.BUYER)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set once the owner opened the confirmation link sent to the address: until then the account
    # reaches only the orders it placed itself, never guest orders or backups of the address.
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The TOTP second factor, sealed (accounts/totp.py), and the last 30-second step
    # used, so that a code is accepted once.
    totp_secret: Mapped[str | None] = mapped_column(String(100))
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    # An operator of the finance staff: the only one who reads the frozen invoices of an erased
    # buyer (accounts/privacy.py may_read_erased_invoices, docs/privacy.md).
    finance: Mapped[bool] = mapped_column(Boolean, default=False)
    # When the person's data was erased on request (accounts/privacy.py): the row stays,
    # pseudonymised, deactivated and without any way to sign in.
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def get_id(self) -> str:
        return str(self.id)

    @property
    def is_active(self) -> bool:  # type: ignore[override]
        return self.active

    @property
    def is_operator(self) -> bool:
        return self.role == Role.OPERATOR

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None

    @property
    def is_staff(self) -> bool:
        """Operators and resellers: longer passwords, a second factor, shorter sessions."""
        return self.role in (Role.OPERATOR, Role.RESELLER)


class PaymentStatus(StrEnum):
    PENDING = "pending_payment"
    PAID = "paid"
    FAILED = "failed"
    EXPIRED = "expired"
    FLAGGED = "flagged"
    REFUND_PENDING = "refund_pending"  # a refund is at the gateway: no other may start
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    DISPUTED = "disputed"  # the buyer's bank opened a chargeback


class FulfilmentStatus(StrEnum):
    UNFULFILLED = "unfulfilled"
    AWAITING = "awaiting_fulfilment"
    IN_PROGRESS = "in_progress"
    PARTIALLY_DELIVERED = "partially_delivered"
    DELIVERED = "delivered"
    NEEDS_ATTENTION = "needs_attention"
    CANCELLED = "cancelled"


class TaxTreatment(StrEnum):
    """On what grounds an order's VAT was charged (commerce/tax.py)."""

    STANDARD = "standard"  # the VAT of the country of supply: France, or the consumer's (OSS)
    REVERSE_CHARGE = "reverse_charge"  # a business with a valid VAT number in another state


class Order(db.Model):  # type: ignore[name-defined]
    __tablename__ = "orders"
    # The back office lists orders newest first, filtered by partner or status; resellers'
    # pages and the back office's search find a buyer's orders by e-mail.
    __table_args__ = (
        Index("ix_orders_partner_created", "partner_id", "created_at"),
        Index("ix_orders_payment_created", "payment_status", "created_at"),
        Index("ix_orders_fulfilment_created", "fulfilment_status", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id"))
    buyer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), index=True)
    source: Mapped[str] = mapped_column(String(16), default="shop")  # shop or api
    email: Mapped[str] = mapped_column(String(254), index=True)
    name: Mapped[str] = mapped_column(String(120))
    company: Mapped[str] = mapped_column(String(160), default="")
    vat_number: Mapped[str] = mapped_column(String(20), default="")
    billing_country: Mapped[str] = mapped_column(String(2), default="FR")
    # The billing address an invoice names (CGI art. 242 nonies A); required of businesses.
    billing_line1: Mapped[str] = mapped_column(String(200), default="")
    billing_postcode: Mapped[str] = mapped_column(String(16), default="")
    billing_city: Mapped[str] = mapped_column(String(100), default="")
    # VAT as charged (commerce/tax.py): whose country's rate, and on what grounds.
    tax_treatment: Mapped[TaxTreatment] = mapped_column(String(16), default=TaxTreatment.STANDARD)
    vat_country: Mapped[str] = mapped_column(String(2), default="FR")
    # Evidence of the buyer's location beside the billing country (EU Regulation 282/2011
    # art. 24b): the country of the visitor's address and of the card that paid.
    ip_country: Mapped[str | None] = mapped_column(String(2))
    card_country: Mapped[str | None] = mapped_column(String(2))
    # Set when no second piece of evidence agrees with the billing country: for the operator.
    location_conflict: Mapped[bool] = mapped_column(Boolean, default=False)
    # The business buyer's VAT number as VIES answered (commerce/vies.py).
    vies_status: Mapped[str | None] = mapped_column(String(16))
    vies_reference: Mapped[str | None] = mapped_column(String(64))
    vies_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The terms of sale (CGV) accepted at checkout: their version.
    terms_version: Mapped[str | None] = mapped_column(String(40))
    locale: Mapped[str] = mapped_column(String(5), default="fr")
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    total_cents: Mapped[int] = mapped_column(Integer, default=0)
    vat_cents: Mapped[int] = mapped_column(Integer, default=0)
    payment_status: Mapped[PaymentStatus] = mapped_column(String(20), default=PaymentStatus.PENDING)
    fulfilment_status: Mapped[FulfilmentStatus] = mapped_column(
        String(24), default=FulfilmentStatus.UNFULFILLED
    )
    gateway: Mapped[str] = mapped_column(String(16), default="test")
    gateway_reference: Mapped[str | None] = mapped_column(String(255), unique=True)
    # The payment behind the checkout (Stripe: the PaymentIntent), to match refunds and disputes.
    payment_reference: Mapped[str | None] = mapped_column(String(255), index=True)
    flag_reason: Mapped[str | None] = mapped_column(Text)
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consent_wording_version: Mapped[str | None] = mapped_column(String(40))
    # Bumped to revoke every order link given out so far (commerce/access.py).
    access_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # When the buyer's identity was removed from the order (erasure on request or the retention
    # job, accounts/privacy.py): amounts, dates, countries and VAT fields stay for accounting.
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    partner: Mapped[Partner] = relationship()
    buyer: Mapped[User | None] = relationship()
    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderLine.position"
    )
    history: Mapped[list[StatusChange]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="StatusChange.created_at"
    )

    @property
    def net_cents(self) -> int:
        return self.total_cents - self.vat_cents

    @property
    def product_lines(self) -> list[OrderLine]:
        return [line for line in self.lines if line.parent_line_id is None]


class OrderLine(db.Model):  # type: ignore[name-defined]
    __tablename__ = "order_lines"
    __table_args__ = (CheckConstraint("quantity BETWEEN 1 AND 10", name="quantity_range"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    parent_line_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("order_lines.id"))
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    product_code: Mapped[str] = mapped_column(String(60))
    product_name: Mapped[str] = mapped_column(String(160))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_cents: Mapped[int] = mapped_column(Integer)
    vat_rate: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    vat_cents: Mapped[int] = mapped_column(Integer)
    total_cents: Mapped[int] = mapped_column(Integer)
    # A renewal of a two-year licence backup: which backup, and the date it is paid to run to.
    renews_backup_id: Mapped[uuid.UUID | None] = mapped_column()
    renews_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A charge of a subscription (subscriptions/): which one, what it does (renewal, seats,
    # product), the commission event it earns, its users, and the period it pays from
    # `renews_from` to `renews_until`.
    renews_subscription_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    subscription_action: Mapped[str | None] = mapped_column(String(16))
    subscription_event: Mapped[str | None] = mapped_column(String(16))
    seats: Mapped[int | None] = mapped_column(Integer)
    renews_from: Mapped[datetime | None] = mapped_column(UTCDateTime)

    order: Mapped[Order] = relationship(back_populates="lines")
    product: Mapped[Product] = relationship()
    addons: Mapped[list[OrderLine]] = relationship(order_by="OrderLine.position")

    @property
    def display_name(self) -> str:
        """The product's name in the reader's language while it is still the name ordered;
        the name as ordered once the product was renamed (invoices keep their own copy)."""
        product = self.product
        if product is not None and product.name == self.product_name:
            return product.display_name
        return self.product_name

    def has_addon(self, code: str) -> bool:
        return any(a.product_code == code for a in self.addons)


class StatusChange(db.Model):  # type: ignore[name-defined]
    """One audited change of an order's payment or fulfilment status."""

    __tablename__ = "order_status_changes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    field: Mapped[str] = mapped_column(String(16))  # payment or fulfilment
    from_status: Mapped[str] = mapped_column(String(24))
    to_status: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(ACTOR_LENGTH), default="system")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    order: Mapped[Order] = relationship(back_populates="history")


class RefundStatus(StrEnum):
    PENDING = "pending"  # asked of the gateway, answer not known yet: retried with the same key
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # refused: nothing was given back, its lines are free again


class RefundOrigin(StrEnum):
    OPERATOR = "operator"  # asked from the back office or the command line
    GATEWAY = "gateway"  # made at the payment provider (Stripe's dashboard), learnt by webhook
    DISPUTE = "dispute"  # a chargeback the buyer's bank won


class Refund(db.Model):  # type: ignore[name-defined]
    """Money given back on an order, whole or for some of its lines, exactly once."""

    __tablename__ = "refunds"
    __table_args__ = (
        UniqueConstraint("order_id", "sequence"),
        CheckConstraint("amount_cents > 0", name="amount_positive"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    sequence: Mapped[int] = mapped_column(Integer)  # 1, 2, ... per order
    origin: Mapped[RefundOrigin] = mapped_column(String(16), default=RefundOrigin.OPERATOR)
    status: Mapped[RefundStatus] = mapped_column(String(16), default=RefundStatus.PENDING)
    amount_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    # Sent with the gateway call: a retry after a crash or a timeout cannot refund twice.
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    gateway_reference: Mapped[str | None] = mapped_column(String(255), unique=True)
    gateway_status: Mapped[str | None] = mapped_column(String(32))
    previous_status: Mapped[str] = mapped_column(String(24))  # the order's, to go back on failure
    reason: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(ACTOR_LENGTH), default="system")
    last_error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set once the lines are cancelled, licences revoked and commissions clawed back.
    effects_applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    order: Mapped[Order] = relationship()
    lines: Mapped[list[RefundLine]] = relationship(
        back_populates="refund", cascade="all, delete-orphan"
    )


class RefundLine(db.Model):  # type: ignore[name-defined]
    """An order line a refund gives back; unique, so no line is ever refunded twice."""

    __tablename__ = "refund_lines"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    refund_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("refunds.id", ondelete="CASCADE"), index=True
    )
    order_line_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("order_lines.id", ondelete="CASCADE"), unique=True
    )
    amount_cents: Mapped[int] = mapped_column(Integer)

    refund: Mapped[Refund] = relationship(back_populates="lines")
    order_line: Mapped[OrderLine] = relationship()


class ProcessedEvent(db.Model):  # type: ignore[name-defined]
    """A payment-gateway event handled once: its id is the primary key."""

    __tablename__ = "processed_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    kind: Mapped[str] = mapped_column(String(80))
    order_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("orders.id"))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Counter(db.Model):  # type: ignore[name-defined]
    """A named counter for human numbers (order numbers per year)."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class CapturedMail(db.Model):  # type: ignore[name-defined]
    """An e-mail caught in development instead of being sent, shown on the dev mail page."""

    __tablename__ = "captured_mails"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    to: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
