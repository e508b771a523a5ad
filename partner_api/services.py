"""Partner API use cases: the catalogue, placing a paid order exactly once, reading an order."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from backups.vault.services import backups_for_lines
from commerce.models import Order, Partner, PartnerProduct, Product, ProductKind
from commerce.orders import (
    ADDON_BACKUP,
    ADDON_INSTALL,
    BuyerDetails,
    LineRequest,
    OrderError,
    offer_for,
    place_order,
)
from commerce.tax import TaxError
from commerce.taxation import Assessment, assess
from commissions import attribute_order
from extensions import db
from fulfilment.delivery import line_deliveries
from invoicing.models import Invoice
from invoicing.services import documents_of
from legal import terms as legal_terms
from partner_api.models import ApiIdempotency, ApiOrder
from partner_api.representation import (
    LineDelivery,
    backup_ref,
    invoice_json,
    invoice_url,
    order_json,
    unit_json,
)
from payments.base import PaymentEvent, PaymentOutcome
from payments.services import ConfirmResult, confirm_payment

log = logging.getLogger(__name__)

GATEWAY = "partner"
EVENT_TYPE = "partner.order"


class ApiError(Exception):
    """A request the API refuses: an HTTP status, a stable code, a message, maybe a field."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


@dataclass(frozen=True)
class LineCommand:
    product: str
    quantity: int
    backup: bool | None = None  # None: the partner's default
    install: bool = False


@dataclass(frozen=True)
class OrderCommand:
    lines: tuple[LineCommand, ...]
    buyer: BuyerDetails
    reseller_code: str | None = None
    terms_version: str = ""  # the terms of sale the partner says the buyer accepted
    # When the buyer asked for immediate delivery, waiving withdrawal, and on which wording.
    consent_at: datetime | None = None
    consent_version: str | None = None


@dataclass(frozen=True)
class Answer:
    """An HTTP answer kept as sent, so that an idempotent replay is byte for byte the same."""

    status: int
    body: str
    replayed: bool = False


def request_hash(body: Any) -> str:
    """Return the SHA-256 of a JSON body in canonical form (key order and spacing ignored)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def partner_offers(partner: Partner) -> list[PartnerProduct]:
    """Return the partner's live offers, software first, then add-ons, in catalogue order."""
    return list(
        db.session.scalars(
            select(PartnerProduct)
            .join(Product)
            .where(
                PartnerProduct.partner_id == partner.id,
                PartnerProduct.available.is_(True),
                Product.is_active.is_(True),
            )
            .order_by(Product.kind.desc(), PartnerProduct.position, Product.code)
        )
    )


def partner_order(partner: Partner, order_id: uuid.UUID) -> Order | None:
    """Return one of the partner's orders; another partner's is None, like a missing one."""
    return db.session.scalar(
        select(Order).where(Order.id == order_id, Order.partner_id == partner.id)
    )


def order_representation(order: Order, *, with_units: bool = True) -> dict[str, Any]:
    """Return the order as the API shows it, with each line's delivery and backup."""
    api_order = db.session.get(ApiOrder, order.id)
    backups = backups_for_lines(backup_ref(line) for line in order.product_lines)
    deliveries = {
        line_id: LineDelivery(
            str(fulfilment.status), [unit_json(unit) for unit in units] if with_units else []
        )
        for line_id, (fulfilment, units) in line_deliveries(order).items()
    }
    documents = documents_of(order.id)
    # An erased buyer's documents stay listed, but only finance staff read them (no url).
    def url(document: Invoice) -> str | None:
        return None if order.erased_at is not None else invoice_url(document)

    return order_json(
        order, api_order.reseller_code if api_order else None, backups, deliveries,
        invoice=(invoice_json(documents.invoice, url(documents.invoice))
                 if documents.invoice is not None else None),
        credit_notes=[invoice_json(note, url(note)) for note in documents.credit_notes],
    )


def place_api_order(
    partner: Partner,
    command: OrderCommand,
    *,
    api_key_id: uuid.UUID | None,
    idempotency_key: str | None = None,
    body_hash: str = "",
) -> Answer:
    """Place a paid order and hand it to fulfilment; a repeated Idempotency-Key replays."""
    claim: ApiIdempotency | None = None
    if idempotency_key is not None:
        known = _remembered(partner, idempotency_key)
        if known is not None:
            return _replay(known, body_hash)
    # VIES is asked before anything is written or locked.
    assessment = _assess(partner, command.buyer)
    command = replace(command, buyer=replace(command.buyer, vat_number=assessment.vat_number))
    if idempotency_key is not None:
        claim = ApiIdempotency(partner_id=partner.id, key=idempotency_key, request_hash=body_hash)
    try:
        if claim is not None:
            # Claim the key first: a concurrent request with the same key waits here on the
            # unique index until this transaction ends, then fails and replays our answer.
            db.session.add(claim)
            db.session.flush()
        order = _new_order(partner, command, api_key_id, assessment)
        if claim is not None:
            claim.order = order
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        known = _remembered(partner, idempotency_key) if idempotency_key is not None else None
        if known is None:
            raise
        return _replay(known, body_hash)
    except BaseException:
        db.session.rollback()
        raise
    answer = _confirm_and_answer(order)
    return _remember(claim.id, answer) if claim is not None else answer


def _assess(partner: Partner, buyer: BuyerDetails) -> Assessment:
    """The buyer's VAT: a wrong or unknown number is refused; a held one asks for a retry."""
    try:
        assessment = assess(partner, buyer.billing_country, buyer.vat_number)
    except TaxError as exc:
        field = "buyer.vat_number" if exc.field == "vat_number" else "buyer.billing_country"
        code = "invalid_vat_number" if exc.field == "vat_number" else "unsupported_country"
        raise ApiError(422, code, str(exc), field) from exc
    if assessment.held:
        raise ApiError(503, "vat_check_unavailable",
                       "VIES, the EU's VAT register, cannot confirm the buyer's VAT number right "
                       "now; nothing was placed: retry later with the same Idempotency-Key",
                       "buyer.vat_number")
    return assessment


def _new_order(partner: Partner, command: OrderCommand, api_key_id: uuid.UUID | None,
               assessment: Assessment) -> Order:
    try:
        terms_version = legal_terms.accepted(command.terms_version)
    except legal_terms.TermsError as exc:
        raise ApiError(422, "terms_not_accepted", str(exc), "terms_version") from exc
    requests = [
        LineRequest(line.product, line.quantity, _addons(partner, line, index))
        for index, line in enumerate(command.lines)
    ]
    try:
        order = place_order(partner, requests, command.buyer, gateway=GATEWAY, source="api",
                            tax=assessment.decision, vies=assessment.vies,
                            terms_version=terms_version, consent_at=command.consent_at,
                            consent_version=command.consent_version)
    except OrderError as exc:
        raise ApiError(422, "invalid_order", str(exc), exc.field) from exc
    db.session.add(ApiOrder(order=order, api_key_id=api_key_id,
                            reseller_code=command.reseller_code))
    db.session.flush()
    # In the order's transaction: an unknown or foreign code is ignored (and noted) there.
    attribute_order(order, reseller_code=command.reseller_code, source="api")
    return order


def _addons(partner: Partner, line: LineCommand, index: int) -> tuple[str, ...]:
    offer = offer_for(partner, line.product)
    if offer is None or offer.product.kind != ProductKind.SOFTWARE:
        raise ApiError(422, "unknown_product", f"this partner sells no product {line.product!r}",
                       f"lines[{index}].product")
    addons: list[str] = []
    backup_offered = offer_for(partner, ADDON_BACKUP) is not None
    if line.backup is True and not backup_offered:
        raise ApiError(422, "addon_not_offered", "this partner does not sell the licence backup",
                       f"lines[{index}].backup")
    if line.backup is True or (line.backup is None and partner.backup_by_default
                               and backup_offered):
        addons.append(ADDON_BACKUP)
    if line.install:
        if offer_for(partner, ADDON_INSTALL) is None:
            raise ApiError(422, "addon_not_offered", "this partner does not sell installation help",
                           f"lines[{index}].install")
        addons.append(ADDON_INSTALL)
    return tuple(addons)


def _confirm_and_answer(order: Order) -> Answer:
    """Confirm the partner's payment through the payment machinery, then describe the order."""
    event = PaymentEvent(
        event_id=f"api:{order.id}",
        event_type=EVENT_TYPE,
        outcome=PaymentOutcome.PAID,
        order_id=order.id,
        reference=None,
        amount_cents=order.total_cents,
        currency=order.currency,
    )
    result = confirm_payment(event, GATEWAY)
    if result not in (ConfirmResult.PAID, ConfirmResult.ALREADY_PROCESSED):
        log.error("API order %s: payment confirmation gave %s", order.number, result)
    db.session.refresh(order)
    # Kept as sent for replays, so it must never hold product keys or licences in clear (in
    # development, fulfilment may already have delivered): units are read with GET.
    body = order_representation(order, with_units=False)
    return Answer(201, json.dumps(body, ensure_ascii=False))


def _remembered(partner: Partner, key: str) -> ApiIdempotency | None:
    return db.session.scalar(
        select(ApiIdempotency)
        .where(ApiIdempotency.partner_id == partner.id, ApiIdempotency.key == key)
        .execution_options(populate_existing=True)
    )


def _replay(known: ApiIdempotency, body_hash: str) -> Answer:
    if known.request_hash != body_hash:
        raise ApiError(409, "idempotency_conflict",
                       "this Idempotency-Key was already used with another request body",
                       "Idempotency-Key")
    if known.response_status is not None and known.response_body is not None:
        return Answer(known.response_status, known.response_body, replayed=True)
    # The first request placed the order but has not stored its answer: it is still running,
    # or it died. Finishing its work is safe (the payment is confirmed once per order).
    order = db.session.get(Order, known.order_id)
    if order is None:
        raise RuntimeError(f"idempotency record {known.id} names no order")
    return _remember(known.id, _confirm_and_answer(order))


def _remember(claim_id: uuid.UUID, answer: Answer) -> Answer:
    stored = db.session.execute(
        update(ApiIdempotency)
        .where(ApiIdempotency.id == claim_id, ApiIdempotency.response_status.is_(None))
        .values(response_status=answer.status, response_body=answer.body)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    if stored.rowcount == 1:  # type: ignore[attr-defined]
        return answer
    first = db.session.get(ApiIdempotency, claim_id, populate_existing=True)
    if first is None or first.response_status is None or first.response_body is None:
        raise RuntimeError(f"idempotency record {claim_id} lost its answer")
    return Answer(first.response_status, first.response_body, replayed=True)
