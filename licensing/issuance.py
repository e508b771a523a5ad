"""Issuing licences: one or many per transaction, idempotent per (order line, unit).

A licence and its audit row go in with `INSERT ... ON CONFLICT DO NOTHING RETURNING`: a
(line, unit) that already has a licence, or a licence number drawn twice, inserts nothing and
breaks nothing in the caller's transaction; only then is the stored licence read. The signing key
is cached per process (`licensing.keys.current_signer`); a single issuance checks in its own
INSERT that the cached key is still the active one, a batch checks it with one read first.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Executable, bindparam, insert, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from extensions import db
from licensing.errors import InvalidLicenceRequest, LicenceConflict, LicensingError
from licensing.keys import Signer, current_signer
from licensing.models import (
    AuditAction,
    KeyStatus,
    LicenceRecord,
    LicensingAudit,
    RevocationReason,
    SigningKey,
    utcnow,
)
from licensing.numbers import new_licence_number
from licensing.token import Licence, sign_licence

_NUMBER_ATTEMPTS = 5
# Rows per multi-row INSERT: SQLite allows 32,766 parameters per statement (17 per licence).
BATCH_PAGE = 1000

_LICENCES = LicenceRecord.__table__
_AUDIT = LicensingAudit.__table__
_KEYS = SigningKey.__table__
# The licence's own columns, given as parameters; the key's two come from its row.
_COLUMNS = ("id", "number", "order_line_ref", "unit", "order_ref", "partner", "buyer_ref",
            "product_code", "edition", "seats", "product_key_sha256", "issued_at", "expires_at",
            "token")
_AUDIT_COLUMNS = ("id", "at", "action", "actor", "licence_id", "kid", "detail")


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
            licence=claims_of(record),
            order_line_ref=record.order_line_ref,
            unit=record.unit,
            revoked_at=record.revoked_at,
            revocation_reason=RevocationReason(reason) if reason else None,
            created=created,
        )


def claims_of(record: LicenceRecord) -> Licence:
    """Return the signed claims of a stored licence."""
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


def _check_request(request: LicenceRequest) -> None:
    ref = request.order_line_ref
    if not isinstance(ref, str) or not 1 <= len(ref) <= 100:
        raise InvalidLicenceRequest("order_line_ref must be text of 1 to 100 characters")
    if type(request.unit) is not int or request.unit < 0:
        raise InvalidLicenceRequest("unit must be an integer from 0")
    if request.expires_at is not None and request.expires_at.tzinfo is None:
        raise InvalidLicenceRequest("expires_at must be timezone-aware")


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


@dataclass(frozen=True, slots=True)
class _Draft:
    """A licence signed and ready to insert."""

    id: uuid.UUID
    request: LicenceRequest
    licence: Licence
    token: str
    kid: str

    def row(self, key_id: uuid.UUID | None = None) -> dict[str, Any]:
        """The licence's row (with the key's columns when given)."""
        request, licence = self.request, self.licence
        row: dict[str, Any] = {
            "id": self.id, "number": licence.number,
            "order_line_ref": request.order_line_ref, "unit": request.unit,
            "order_ref": request.order_ref, "partner": request.partner,
            "buyer_ref": request.buyer_ref, "product_code": request.product_code,
            "edition": request.edition, "seats": request.seats,
            "product_key_sha256": request.product_key_sha256, "issued_at": licence.issued_at,
            "expires_at": licence.expires_at, "token": self.token,
        }
        if key_id is not None:
            row["signing_key_id"], row["kid"] = key_id, self.kid
        return row

    def audit(self, actor: str, at: datetime) -> dict[str, Any]:
        """The audit row of its issuance."""
        return {"id": uuid.uuid4(), "at": at, "action": AuditAction.LICENCE_ISSUED.value,
                "actor": actor, "licence_id": self.id,
                "kid": self.kid,
                "detail": {"order_line_ref": self.request.order_line_ref,
                           "unit": self.request.unit}}

    def issued(self) -> IssuedLicence:
        """The licence as the caller gets it once inserted."""
        return IssuedLicence(
            id=self.id, number=self.licence.number, token=self.token,
            kid=self.kid, licence=self.licence, order_line_ref=self.request.order_line_ref,
            unit=self.request.unit, revoked_at=None, revocation_reason=None, created=True)


def _draft(request: LicenceRequest, signer: Signer, issued_at: datetime) -> _Draft:
    """Sign a licence for the request under a fresh id and number."""
    expires_at = request.expires_at.replace(microsecond=0) if request.expires_at else None
    licence_id = uuid.uuid4()
    try:
        licence = Licence(
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
    token = sign_licence(licence, signer.private_key, signer.kid)
    return _Draft(licence_id, request, licence, token, signer.kid)


def _insert_for(dialect: str) -> Callable[..., Any]:
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def _single_statements(dialect: str) -> tuple[Executable, Executable | None]:
    """The statements of one issuance: the licence's guarded INSERT, then its audit row's.

    The licence takes its key's columns from the key's row, and only while that row is active:
    a cached key that was rotated or revoked meanwhile inserts nothing. On PostgreSQL the audit
    row is written by the same statement (a data-modifying WITH); SQLite needs a second one.
    """
    dialect_insert = _insert_for(dialect)
    source = select(
        *(bindparam(name, type_=_LICENCES.c[name].type) for name in _COLUMNS),
        _KEYS.c.id, _KEYS.c.kid,
    ).where(_KEYS.c.id == bindparam("key_id", type_=_KEYS.c.id.type),
            _KEYS.c.status == KeyStatus.ACTIVE.value)
    licence = (
        dialect_insert(_LICENCES)
        .from_select([*_COLUMNS, "signing_key_id", "kid"], source)
        .on_conflict_do_nothing()
        .returning(_LICENCES.c.id)
    )
    audit_values = {name: bindparam(f"audit_{name}", type_=_AUDIT.c[name].type)
                    for name in _AUDIT_COLUMNS if name != "licence_id"}
    if dialect != "postgresql":
        audit = insert(_AUDIT).values(
            licence_id=bindparam("id", type_=_AUDIT.c.licence_id.type), **audit_values)
        return licence, audit
    issued = licence.cte("issued")
    audit_source = select(
        *(issued.c.id if name == "licence_id" else audit_values[name] for name in _AUDIT_COLUMNS)
    ).select_from(issued)
    together = (
        postgresql.insert(_AUDIT)
        .from_select(list(_AUDIT_COLUMNS), audit_source)
        .returning(_AUDIT.c.licence_id)
    )
    return together, None


_STATEMENTS: dict[str, tuple[Executable, Executable | None]] = {}


def _statements() -> tuple[Executable, Executable | None]:
    dialect = db.session.get_bind().dialect.name
    statements = _STATEMENTS.get(dialect)
    if statements is None:
        statements = _STATEMENTS[dialect] = _single_statements(dialect)
    return statements


def _by_line(order_line_ref: str, unit: int) -> LicenceRecord | None:
    return db.session.scalars(
        select(LicenceRecord).where(
            LicenceRecord.order_line_ref == order_line_ref, LicenceRecord.unit == unit
        )
    ).one_or_none()


def issue_licence(
    request: LicenceRequest, *, actor: str = "system", now: datetime | None = None
) -> IssuedLicence:
    """Issue and sign the licence for (order line, unit); the same call again returns it.

    Written in the caller's transaction, which the caller commits: one statement on PostgreSQL,
    two on SQLite, once the process knows the active key. A concurrent call for the same line and
    unit waits for the first one's transaction and then returns its licence.
    """
    _check_request(request)
    issued_at = (now or utcnow()).replace(microsecond=0)
    licence_statement, audit_statement = _statements()
    signer = current_signer()
    for _ in range(_NUMBER_ATTEMPTS):
        draft = _draft(request, signer, issued_at)
        row = draft.row()
        params = {**row, "key_id": signer.key_id,
                  **{f"audit_{name}": value for name, value in draft.audit(actor, utcnow()).items()
                     if name != "licence_id"}}
        if db.session.execute(licence_statement, params).first() is not None:
            if audit_statement is not None:
                db.session.execute(audit_statement, params)
            return draft.issued()
        existing = _by_line(request.order_line_ref, request.unit)
        if existing is not None:
            return _same_terms(existing, request)
        # The licence number was taken, or the cached key is no longer the active one.
        signer = current_signer(refresh=True)
    raise LicensingError("could not allocate a free licence number")


def _batch_signer() -> Signer:
    """The active key, checked with one read against the process's cached one."""
    signer = current_signer()
    with db.session.no_autoflush:  # the caller's pending rows are no concern of this read
        active = db.session.scalar(
            select(SigningKey.id).where(SigningKey.status == KeyStatus.ACTIVE.value))
    return signer if active == signer.key_id else current_signer(refresh=True)


def issue_licences(
    requests: Sequence[LicenceRequest], *, actor: str = "system", now: datetime | None = None
) -> list[IssuedLicence]:
    """Issue the licences of many (order line, unit)s at once, in the order asked.

    Idempotent per (line, unit) as `issue_licence` is, written in the caller's transaction (one
    commit, the caller's): a read of the active key, then per page of `BATCH_PAGE` one multi-row
    INSERT of the licences and one of their audit rows. A batch of one is `issue_licence`.
    """
    for request in requests:
        _check_request(request)
    if len(requests) <= 1:
        return [issue_licence(r, actor=actor, now=now) for r in requests]
    issued_at = (now or utcnow()).replace(microsecond=0)
    signer = _batch_signer()
    results: dict[int, IssuedLicence] = {}
    waiting = list(range(len(requests)))
    for _ in range(_NUMBER_ATTEMPTS):
        drafts = {i: _draft(requests[i], signer, issued_at) for i in waiting}
        inserted = _insert_batch(list(drafts.values()), signer, actor)
        missing = [i for i, d in drafts.items() if d.id not in inserted]
        for i, d in drafts.items():
            if d.id in inserted:
                results[i] = d.issued()
        existing = _existing([requests[i] for i in missing])
        waiting = []
        for i in missing:
            record = existing.get((requests[i].order_line_ref, requests[i].unit))
            if record is None:
                waiting.append(i)  # its licence number was taken: draw another
            else:
                results[i] = _same_terms(record, requests[i])
        if not waiting:
            return [results[i] for i in range(len(requests))]
    raise LicensingError("could not allocate a free licence number")


def _insert_batch(drafts: list[_Draft], signer: Signer, actor: str) -> set[uuid.UUID]:
    """Insert the drafts that have no licence yet and their audit rows; return their ids."""
    dialect = db.session.get_bind().dialect.name
    statement = (_insert_for(dialect)(_LICENCES).on_conflict_do_nothing()
                 .returning(_LICENCES.c.id))
    inserted: set[uuid.UUID] = set()
    # In one order for every batch, so that two batches waiting on each other's rows cannot
    # deadlock on PostgreSQL.
    drafts = sorted(drafts, key=lambda d: (d.request.order_line_ref, d.request.unit))
    for start in range(0, len(drafts), BATCH_PAGE):
        page = drafts[start:start + BATCH_PAGE]
        rows = [d.row(signer.key_id) for d in page]
        ids = set(db.session.scalars(statement, rows))
        at = utcnow()
        audits = [d.audit(actor, at) for d in page if d.id in ids]
        if audits:
            db.session.execute(insert(_AUDIT), audits)
        inserted |= ids
    return inserted


def _existing(requests: list[LicenceRequest]) -> dict[tuple[str, int], LicenceRecord]:
    """The stored licences of these (line, unit)s."""
    if not requests:
        return {}
    pairs = {(r.order_line_ref, r.unit) for r in requests}
    records = db.session.scalars(
        select(LicenceRecord).where(
            tuple_(LicenceRecord.order_line_ref, LicenceRecord.unit).in_(pairs))
    ).all()
    return {(r.order_line_ref, r.unit): r for r in records}
