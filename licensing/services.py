"""Licence use cases: issue (idempotent per order line and unit), revoke, look up, verify."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError

from extensions import db
from licensing.errors import (
    InvalidLicenceRequest,
    LicenceConflict,
    LicenceNotFound,
    LicensingError,
)
from licensing.keys import DatabaseKeys, active_signer
from licensing.models import (
    AuditAction,
    LicenceRecord,
    LicensingAudit,
    RevocationReason,
    utcnow,
)
from licensing.numbers import InvalidLicenceNumber, new_licence_number, parse_licence_number
from licensing.revocations import RevocationList, RevokedEntry, sign_revocation_list
from licensing.token import Licence, sign_licence
from licensing.verify import Verdict, verify

_NUMBER_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class LicenceRequest:
    """What fulfilment asks for: one licence per (order line, unit), opaque references only."""

    order_line_ref: str
    unit: int
    product_code: str
    edition: str
    seats: int
    order_ref: str
    partner: str
    buyer_ref: str
    product_key_sha256: str
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class IssuedLicence:
    """A licence as stored: its id, number, signed token and revocation state."""

    id: uuid.UUID
    number: str
    token: str
    kid: str
    licence: Licence
    order_line_ref: str
    unit: int
    revoked_at: datetime | None
    revocation_reason: RevocationReason | None
    created: bool = False

    @classmethod
    def of(cls, record: LicenceRecord, *, created: bool = False) -> IssuedLicence:
        """Describe a stored licence."""
        reason = record.revocation_reason
        return cls(
            id=record.id,
            number=record.number,
            token=record.token,
            kid=record.kid,
            licence=_claims(record),
            order_line_ref=record.order_line_ref,
            unit=record.unit,
            revoked_at=record.revoked_at,
            revocation_reason=RevocationReason(reason) if reason else None,
            created=created,
        )


@dataclass(frozen=True, slots=True)
class SignedRevocationList:
    """A revocation list and its signed document."""

    document: str
    kid: str
    revocations: RevocationList

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form served by the API."""
        return {"document": self.document, "kid": self.kid, **self.revocations.to_claims()}


def _claims(record: LicenceRecord) -> Licence:
    return Licence(
        licence_id=str(record.id),
        number=record.number,
        product=record.product_code,
        edition=record.edition,
        seats=record.seats,
        order=record.order_ref,
        partner=record.partner,
        buyer=record.buyer_ref,
        issued_at=record.issued_at,
        expires_at=record.expires_at,
        product_key_sha256=record.product_key_sha256,
    )


def _by_line(order_line_ref: str, unit: int) -> LicenceRecord | None:
    return db.session.scalars(
        select(LicenceRecord).where(
            LicenceRecord.order_line_ref == order_line_ref, LicenceRecord.unit == unit
        )
    ).one_or_none()


def _same_terms(record: LicenceRecord, request: LicenceRequest) -> IssuedLicence:
    """Return the earlier licence for this line and unit, if it has the requested terms."""
    expires = request.expires_at.replace(microsecond=0) if request.expires_at else None
    stored = (record.product_code, record.edition, record.seats, record.order_ref,
              record.partner, record.buyer_ref, record.product_key_sha256, record.expires_at)
    asked = (request.product_code, request.edition, request.seats, request.order_ref,
             request.partner, request.buyer_ref, request.product_key_sha256, expires)
    if stored != asked:
        raise LicenceConflict(
            f"order line {request.order_line_ref} unit {request.unit} already has licence "
            f"{record.number} with other terms"
        )
    return IssuedLicence.of(record)


def _check_request(request: LicenceRequest) -> None:
    ref = request.order_line_ref
    if not isinstance(ref, str) or not 1 <= len(ref) <= 100:
        raise InvalidLicenceRequest("order_line_ref must be text of 1 to 100 characters")
    if type(request.unit) is not int or request.unit < 0:
        raise InvalidLicenceRequest("unit must be an integer from 0")
    if request.expires_at is not None and request.expires_at.tzinfo is None:
        raise InvalidLicenceRequest("expires_at must be timezone-aware")


def issue_licence(
    request: LicenceRequest, *, actor: str = "system", now: datetime | None = None,
    fresh: bool = False,
) -> IssuedLicence:
    """Issue and sign the licence for (order line, unit); the same call again returns it.

    The licence is written in a savepoint of the caller's transaction, which the caller commits.
    With fresh=True the caller vouches that no licence can exist yet for this line and unit (it
    creates the unit in this very transaction): the licence joins the caller's transaction with
    no look-up and no savepoint, and the unlikely clash of a licence number drawn twice fails
    that transaction, to be tried again.
    """
    _check_request(request)
    if not fresh:
        existing = _by_line(request.order_line_ref, request.unit)
        if existing is not None:
            return _same_terms(existing, request)
    with db.session.no_autoflush:  # the key's row is all it reads
        key, private_key = active_signer()
    issued_at = (now or utcnow()).replace(microsecond=0)
    expires_at = request.expires_at.replace(microsecond=0) if request.expires_at else None
    for _ in range(_NUMBER_ATTEMPTS):
        licence_id = uuid.uuid4()
        try:
            claims = Licence(
                licence_id=str(licence_id),
                number=new_licence_number(),
                product=request.product_code,
                edition=request.edition,
                seats=request.seats,
                order=request.order_ref,
                partner=request.partner,
                buyer=request.buyer_ref,
                issued_at=issued_at,
                expires_at=expires_at,
                product_key_sha256=request.product_key_sha256,
            )
        except ValueError as exc:
            raise InvalidLicenceRequest(str(exc)) from exc
        record = LicenceRecord(
            id=licence_id,
            number=claims.number,
            order_line_ref=request.order_line_ref,
            unit=request.unit,
            order_ref=request.order_ref,
            partner=request.partner,
            buyer_ref=request.buyer_ref,
            product_code=request.product_code,
            edition=request.edition,
            seats=request.seats,
            product_key_sha256=request.product_key_sha256,
            issued_at=issued_at,
            expires_at=expires_at,
            signing_key_id=key.id,
            kid=key.kid,
            token=sign_licence(claims, private_key, key.kid),
        )
        audit = LicensingAudit(
            action=AuditAction.LICENCE_ISSUED,
            actor=actor,
            licence_id=licence_id,
            kid=key.kid,
            detail={"order_line_ref": request.order_line_ref, "unit": request.unit},
        )
        if fresh:
            db.session.add_all([record, audit])
            return IssuedLicence.of(record, created=True)
        try:
            with db.session.begin_nested():
                db.session.add_all([record, audit])
        except IntegrityError:
            # Either a concurrent call issued this line and unit first (return its licence),
            # or the random licence number was taken (draw another).
            existing = _by_line(request.order_line_ref, request.unit)
            if existing is not None:
                return _same_terms(existing, request)
            key, private_key = active_signer()
            continue
        return IssuedLicence.of(record, created=True)
    raise LicensingError("could not allocate a free licence number")


def _find(ref: uuid.UUID | str) -> LicenceRecord:
    """Find a licence by UUID, UUID text or licence number (typed loosely, as people do)."""
    licence_id: uuid.UUID | None = ref if isinstance(ref, uuid.UUID) else None
    record: LicenceRecord | None = None
    if licence_id is None:
        try:
            licence_id = uuid.UUID(str(ref))
        except ValueError:
            try:
                number = parse_licence_number(str(ref))
            except InvalidLicenceNumber as exc:
                raise LicenceNotFound(f"{ref!r} is neither a licence id nor a number") from exc
            record = db.session.scalars(
                select(LicenceRecord).where(LicenceRecord.number == number)
            ).one_or_none()
    if licence_id is not None:
        record = db.session.get(LicenceRecord, licence_id)
    if record is None:
        raise LicenceNotFound(f"no licence {ref}")
    return record


def get_licence(ref: uuid.UUID | str) -> IssuedLicence:
    """Return a licence by id or number."""
    return IssuedLicence.of(_find(ref))


def revoke_licence(
    ref: uuid.UUID | str,
    reason: RevocationReason,
    actor: str,
    *,
    now: datetime | None = None,
) -> IssuedLicence:
    """Revoke a licence once; revoking it again returns the first revocation unchanged.

    Written in the caller's transaction, which the caller commits.
    """
    reason = RevocationReason(reason)
    record = _find(ref)
    revoked_at = (now or utcnow()).replace(microsecond=0)
    result = cast(
        CursorResult[Any],
        db.session.execute(
            update(LicenceRecord)
            .where(LicenceRecord.id == record.id, LicenceRecord.revoked_at.is_(None))
            .values(revoked_at=revoked_at, revocation_reason=reason.value, revoked_by=actor)
            .execution_options(synchronize_session=False)
        ),
    )
    if result.rowcount == 1:
        db.session.add(
            LicensingAudit(
                action=AuditAction.LICENCE_REVOKED,
                actor=actor,
                licence_id=record.id,
                kid=record.kid,
                reason=reason.value,
                detail={},
            )
        )
    db.session.flush()
    db.session.refresh(record)
    return IssuedLicence.of(record)


class _DatabaseRevocations:
    """A container of revoked licence ids, asked one id at a time."""

    def __contains__(self, licence_id: object) -> bool:
        try:
            key = uuid.UUID(str(licence_id))
        except ValueError:
            return False
        revoked_at = db.session.scalar(
            select(LicenceRecord.revoked_at).where(LicenceRecord.id == key)
        )
        return revoked_at is not None


def verify_licence_token(token: str, *, now: datetime | None = None) -> Verdict:
    """Verify a token against our keys and revocations as they stand in the database."""
    return verify(token, DatabaseKeys(), now=now, revoked=_DatabaseRevocations())


def revocation_list(
    since: datetime | None = None, *, now: datetime | None = None
) -> SignedRevocationList:
    """Return the licences revoked since `since`, in a document signed by the active key."""
    query = select(LicenceRecord).where(LicenceRecord.revoked_at.is_not(None))
    if since is not None:
        query = query.where(LicenceRecord.revoked_at >= since)
    records = db.session.scalars(query.order_by(LicenceRecord.revoked_at)).all()
    entries = [
        RevokedEntry(str(r.id), r.number, cast(datetime, r.revoked_at), r.revocation_reason or "")
        for r in records
    ]
    key, private_key = active_signer()
    generated_at = (now or utcnow()).replace(microsecond=0)
    since = since.replace(microsecond=0) if since else None
    document = sign_revocation_list(entries, generated_at, since, private_key, key.kid)
    return SignedRevocationList(
        document, key.kid, RevocationList(generated_at, since, tuple(entries))
    )
