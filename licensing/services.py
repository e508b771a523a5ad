"""Licence use cases: issue (`licensing.issuance`, idempotent per order line and unit), revoke,
look up, verify."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, select, update

from extensions import db
from licensing.errors import LicenceNotFound
from licensing.issuance import IssuedLicence, LicenceRequest, issue_licence, issue_licences
from licensing.keys import DatabaseKeys, active_signer
from licensing.models import AuditAction, LicenceRecord, LicensingAudit, RevocationReason, utcnow
from licensing.numbers import InvalidLicenceNumber, parse_licence_number
from licensing.revocations import RevocationList, RevokedEntry, sign_revocation_list
from licensing.verify import Verdict, verify

__all__ = ["IssuedLicence", "LicenceRequest", "get_licence", "issue_licence", "issue_licences",
           "revocation_list", "revoke_licence", "verify_licence_token"]


@dataclass(frozen=True, slots=True)
class SignedRevocationList:
    """A revocation list and its signed document."""

    document: str
    kid: str
    revocations: RevocationList

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form served by the API."""
        return {"document": self.document, "kid": self.kid, **self.revocations.to_claims()}


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
