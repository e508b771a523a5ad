"""Finding a licence again: which backups a buyer may see, opening and re-sending them."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import or_, select

from backups.vault import (
    AccessAction,
    AccessEntry,
    Actor,
    Backup,
    BackupContents,
    BackupStatus,
    get_backup,
    list_accesses,
    normalise_buyer_ref,
    open_backup,
)
from backups.vault.models import utcnow
from commerce.models import Order, OrderLine, Partner, User
from extensions import db

CLOSED = (BackupStatus.EXPIRED, BackupStatus.PURGED)


@dataclass(frozen=True)
class BuyerScope:
    """The backups a buyer may see on one partner's shop: by e-mail, or by order line owned."""

    partner_slug: str
    emails: frozenset[str]
    line_refs: frozenset[str] = frozenset()
    # Who is asking, for the audit: the account's or the link's address, proven or not.
    asked_by: str = ""

    @property
    def primary_email(self) -> str:
        """Return the e-mail an out-of-scope attempt is checked (and audited) against."""
        return min(self.emails) if self.emails else self.asked_by

    def covers(self, backup: Backup) -> bool:
        """Tell whether the backup is this buyer's on this partner's shop."""
        if backup.partner != self.partner_slug or backup.status == BackupStatus.ERASED:
            return False
        return backup.buyer_ref in self.emails or backup.order_line_ref in self.line_refs

    def merged(self, other: BuyerScope) -> BuyerScope:
        """Return the union of two scopes on the same shop."""
        assert other.partner_slug == self.partner_slug
        return BuyerScope(self.partner_slug, self.emails | other.emails,
                          self.line_refs | other.line_refs, self.asked_by or other.asked_by)


@dataclass(frozen=True)
class BackupRow:
    """One backup as a buyer or an operator sees it in a list."""

    id: uuid.UUID
    partner: str
    buyer_ref: str | None
    status: BackupStatus
    expires_at: datetime
    created_at: datetime
    product_name: str
    quantity: int
    order_id: uuid.UUID | None
    order_number: str | None
    last_error: str | None = None

    @property
    def expired_on(self) -> date | None:
        """Return the (UTC) expiry date when the backup cannot be opened any more."""
        return self.expires_at.date() if self.status in CLOSED else None

    @property
    def can_open(self) -> bool:
        """Tell whether opening may succeed (not past expiry, not erased)."""
        return self.status in (BackupStatus.PENDING, BackupStatus.STORED)


@dataclass(frozen=True)
class AccessRow:
    """One audited access, with the product and order it concerns."""

    entry: AccessEntry
    product_name: str
    order_number: str | None


@dataclass(frozen=True)
class LicenceUnit:
    """One delivered unit read back from a backup's bundle."""

    product_key: str
    download_url: str
    download_expires_at: datetime | None
    licence_number: str
    licence: str

    def download_expired(self, now: datetime | None = None) -> bool:
        """Tell whether the wholesaler's download window is over."""
        expires = self.download_expires_at
        return expires is not None and expires <= (now or utcnow())


@dataclass(frozen=True)
class Licence:
    """A decrypted backup, shaped for a page or an e-mail."""

    backup_id: uuid.UUID
    partner: str
    order_line_ref: str
    buyer_ref: str | None
    product_name: str
    order_number: str
    expires_at: datetime
    units: list[LicenceUnit] = field(default_factory=list)


@dataclass(frozen=True)
class BuyerBackups:
    """The backups section of a buyer's page: the backups and who opened them."""

    rows: list[BackupRow]
    accesses: list[AccessRow]


def account_scope(user: User, partner: Partner) -> BuyerScope:
    """Return a signed-in buyer's scope: the lines of the orders their account reaches, and the
    backups of their address once it is proven (an unconfirmed address reaches nothing more)."""
    from accounts.services import owned_orders_condition

    line_ids = db.session.scalars(
        select(OrderLine.id).join(Order).where(owned_orders_condition(user),
                                               Order.partner_id == partner.id)
    )
    email = normalise_buyer_ref(user.email)
    return BuyerScope(partner.slug, frozenset({email}) if user.email_verified else frozenset(),
                      frozenset(str(i) for i in line_ids), asked_by=email)


def email_scope(email: str, partner: Partner) -> BuyerScope:
    """Return the scope proved by an e-mailed link: that address's backups on that shop."""
    ref = normalise_buyer_ref(email)
    return BuyerScope(partner.slug, frozenset({ref}), asked_by=ref)


def buyer_backups(scope: BuyerScope, *, now: datetime | None = None) -> BuyerBackups:
    """Return the buyer's backups on the shop, newest first, and every access to them."""
    conditions = [Backup.buyer_ref.in_(scope.emails)] if scope.emails else []
    if scope.line_refs:
        conditions.append(Backup.order_line_ref.in_(scope.line_refs))
    if not conditions:
        return BuyerBackups([], [])
    backups = list(db.session.scalars(
        select(Backup)
        .where(Backup.partner == scope.partner_slug, Backup.status != BackupStatus.ERASED,
               or_(*conditions))
        .order_by(Backup.created_at.desc())
    ))
    rows = backup_rows(backups, now=now)
    by_id = {row.id: row for row in rows}
    accesses: list[AccessRow] = []
    for buyer_ref in sorted({b.buyer_ref for b in backups if b.buyer_ref}):
        for entry in list_accesses(buyer_ref):
            row = by_id.get(entry.backup_id)
            if row is not None:
                accesses.append(AccessRow(entry, row.product_name, row.order_number))
    accesses.sort(key=lambda a: a.entry.at, reverse=True)
    return BuyerBackups(rows, accesses)


def backup_rows(backups: Iterable[Backup], *, now: datetime | None = None) -> list[BackupRow]:
    """Describe backups with the product and order of their order line."""
    now = now or utcnow()
    backups = list(backups)
    lines = _order_lines(b.order_line_ref for b in backups)
    rows = []
    for backup in backups:
        line = lines.get(backup.order_line_ref)
        rows.append(BackupRow(
            id=backup.id, partner=backup.partner, buyer_ref=backup.buyer_ref,
            status=backup.display_status(now), expires_at=backup.expires_at,
            created_at=backup.created_at,
            product_name=line.product_name if line else backup.order_line_ref,
            quantity=line.quantity if line else 1,
            order_id=line.order_id if line else None,
            order_number=line.order.number if line else None,
            last_error=backup.last_error,
        ))
    return rows


def open_for_buyer(
    scope: BuyerScope,
    backup_id: uuid.UUID,
    actor: Actor,
    *,
    action: AccessAction = AccessAction.VIEW,
    now: datetime | None = None,
) -> Licence:
    """Open one of the buyer's backups; another buyer's or shop's is BackupNotFound, audited."""
    backup = get_backup(backup_id)
    if backup is not None and backup.buyer_ref and scope.covers(backup):
        buyer_ref = backup.buyer_ref
    else:
        # Out of scope, the vault is asked with the buyer's own e-mail: it refuses and audits it.
        buyer_ref = scope.primary_email
    contents = open_backup(backup_id, actor, action=action, partner=scope.partner_slug,
                           buyer_ref=buyer_ref, now=now)
    return licence_from(contents)


def open_for_operator(
    backup_id: uuid.UUID, actor: Actor, *, action: AccessAction = AccessAction.VIEW,
    now: datetime | None = None,
) -> Licence:
    """Open any backup for support; the vault audits it under the operator's e-mail."""
    return licence_from(open_backup(backup_id, actor, action=action, now=now))


def resend_for_buyer(
    scope: BuyerScope, backup_id: uuid.UUID, actor: Actor, *, now: datetime | None = None
) -> str:
    """Re-send one of the buyer's licences by e-mail; return the address it went to."""
    from backups.mail import send_licence

    licence = open_for_buyer(scope, backup_id, actor, action=AccessAction.RESEND, now=now)
    return send_licence(licence)


def resend_for_operator(backup_id: uuid.UUID, actor: Actor, *, now: datetime | None = None) -> str:
    """Re-send a licence to its buyer on support's request; return the address it went to."""
    from backups.mail import send_licence

    licence = open_for_operator(backup_id, actor, action=AccessAction.RESEND, now=now)
    return send_licence(licence)


def licence_from(contents: BackupContents) -> Licence:
    """Shape a decrypted bundle (as fulfilment/hooks.py builds it) for display."""
    bundle = contents.bundle
    raw_product = bundle.get("product")
    product: Mapping[str, Any] = raw_product if isinstance(raw_product, Mapping) else {}
    units = [_unit(u) for u in bundle.get("units") or [] if isinstance(u, Mapping)]
    return Licence(
        backup_id=contents.backup_id,
        partner=contents.partner,
        order_line_ref=contents.order_line_ref,
        buyer_ref=contents.buyer_ref,
        product_name=str(product.get("name") or product.get("code") or ""),
        order_number=str(bundle.get("order") or ""),
        expires_at=contents.expires_at,
        units=units,
    )


def order_line_for(order_line_ref: str) -> OrderLine | None:
    """Return the order line a backup belongs to, if the reference is one of ours."""
    return _order_lines([order_line_ref]).get(order_line_ref)


def _unit(raw: Mapping[str, Any]) -> LicenceUnit:
    expires = raw.get("download_expires_at")
    try:
        download_expires_at = datetime.fromisoformat(expires) if expires else None
    except (TypeError, ValueError):
        download_expires_at = None
    if download_expires_at is not None and download_expires_at.tzinfo is None:
        download_expires_at = None
    return LicenceUnit(
        product_key=str(raw.get("product_key") or ""),
        download_url=str(raw.get("download_url") or ""),
        download_expires_at=download_expires_at,
        licence_number=str(raw.get("licence_number") or ""),
        licence=str(raw.get("licence") or ""),
    )


def _order_lines(refs: Iterable[str]) -> dict[str, OrderLine]:
    ids = set()
    for ref in refs:
        try:
            ids.add(uuid.UUID(ref))
        except ValueError:
            continue
    if not ids:
        return {}
    lines = db.session.scalars(select(OrderLine).where(OrderLine.id.in_(ids)))
    return {str(line.id): line for line in lines}

