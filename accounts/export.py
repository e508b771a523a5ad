"""The sections of a person's data export (accounts/privacy.py export_data), as JSON values.

Nothing secret that the person does not already see: no password hash, TOTP secret, token
hash or passkey public key; their product keys, download links and licence files are theirs.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_, select

from accounts.models import AuthSession, EmailToken, Passkey
from commerce.models import CapturedMail, Order, OrderLine, Refund
from extensions import db, utcnow

if TYPE_CHECKING:
    from accounts.privacy import Subject

FORMAT_VERSION = 1
ORDER_FIELDS = (
    "number", "source", "email", "name", "company", "vat_number", "billing_country",
    "billing_line1", "billing_postcode", "billing_city", "tax_treatment", "vat_country",
    "ip_country", "card_country", "location_conflict", "vies_status", "vies_reference",
    "vies_checked_at", "terms_version", "consent_at", "consent_wording_version", "locale",
    "currency", "total_cents", "vat_cents", "payment_status", "fulfilment_status", "gateway",
    "created_at", "paid_at", "erased_at",
)
LINE_FIELDS = ("product_code", "product_name", "quantity", "unit_price_cents", "vat_rate",
               "vat_cents", "total_cents", "renews_until")


def plain(value: Any) -> Any:
    """A JSON value: datetimes in ISO 8601 UTC, Decimals and UUIDs as strings."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    return value


def export_sections(subject: Subject, *, email_proven: bool) -> dict[str, Any]:
    emails = subject.emails if email_proven else set()
    orders = subject.orders
    return {
        "format": "comptoir-personal-data",
        "version": FORMAT_VERSION,
        "exported_at": utcnow().isoformat(),
        "email": subject.email,
        "account": _account(subject),
        "sessions": _sessions(subject),
        "email_links": _email_links(subject),
        "orders": [_order(order) for order in orders],
        "licences": _licences(orders),
        "backups": _backups(orders, emails),
        "backup_access_links": _access_links(emails),
        "subscriptions": _subscriptions(orders),
        "resellers": _resellers(orders, emails),
        "emails_sent": _emails(orders, emails),
    }


def _subscriptions(orders: list[Order]) -> list[dict[str, Any]]:
    """The subscriptions the person's orders opened: plans, users, terms and history."""
    from subscriptions.models import Subscription

    if not orders:
        return []
    subs = db.session.scalars(select(Subscription).where(
        Subscription.origin_order_id.in_([o.id for o in orders]))).all()
    return [{
        "number": sub.number, "status": str(sub.status), "term_months": sub.term_months,
        "started_at": sub.started_at.isoformat(),
        "paid_until": sub.current_period_end.isoformat(),
        "renews": sub.renews,
        "items": [{"product": i.product_code, "users": i.seats,
                   "unit_price_cents": i.unit_price_cents} for i in sub.items],
        "history": [{"at": h.created_at.isoformat(), "what": h.kind, "detail": h.detail}
                    for h in sub.history],
    } for sub in subs]


def _account(subject: Subject) -> dict[str, Any] | None:
    user = subject.user
    if user is None:
        return None
    passkeys = db.session.scalars(select(Passkey).where(Passkey.user_id == user.id)).all()
    return {
        "email": user.email, "name": user.name, "role": str(user.role), "active": user.active,
        "created_at": plain(user.created_at), "email_verified_at": plain(user.email_verified_at),
        "two_step_code": user.totp_secret is not None,
        "passkeys": [{"name": p.name, "created_at": plain(p.created_at),
                      "last_used_at": plain(p.last_used_at)} for p in passkeys],
    }


def _sessions(subject: Subject) -> list[dict[str, Any]]:
    if subject.user is None:
        return []
    rows = db.session.scalars(select(AuthSession).where(AuthSession.user_id == subject.user.id)
                              .order_by(AuthSession.created_at)).all()
    return [{"door": r.door, "factors": r.factor_list, "created_at": plain(r.created_at),
             "last_seen_at": plain(r.last_seen_at), "ip": r.ip, "user_agent": r.user_agent,
             "ended_at": plain(r.ended_at), "end_reason": r.end_reason} for r in rows]


def _email_links(subject: Subject) -> list[dict[str, Any]]:
    if subject.user is None:
        return []
    rows = db.session.scalars(select(EmailToken).where(EmailToken.user_id == subject.user.id)
                              .order_by(EmailToken.created_at)).all()
    return [{"purpose": r.purpose, "email": r.email, "created_at": plain(r.created_at),
             "expires_at": plain(r.expires_at), "used_at": plain(r.used_at)} for r in rows]


def _order(order: Order) -> dict[str, Any]:
    data = {name: plain(getattr(order, name)) for name in ORDER_FIELDS}
    data["shop"] = order.partner.name
    data["lines"] = [_line(line) for line in order.lines]
    refunds = db.session.scalars(select(Refund).where(Refund.order_id == order.id)
                                 .order_by(Refund.sequence)).all()
    data["refunds"] = [{"amount_cents": r.amount_cents, "currency": r.currency,
                        "status": str(r.status), "created_at": plain(r.created_at),
                        "completed_at": plain(r.completed_at)} for r in refunds]
    data["invoices"] = _invoices(order)
    return data


def _invoices(order: Order) -> list[dict[str, Any]]:
    """The order's invoice and credit notes as issued (their PDFs are on the order page)."""
    from invoicing.services import documents_of

    documents = documents_of(order.id)
    issued = [d for d in (documents.invoice, *documents.credit_notes) if d is not None]
    return [{"kind": str(d.kind), "number": d.number, "issued_on": d.issued_on.isoformat(),
             "net_cents": d.net_cents, "vat_cents": d.vat_cents, "total_cents": d.total_cents,
             "currency": d.currency} for d in issued]


def _line(line: OrderLine) -> dict[str, Any]:
    data = {name: plain(getattr(line, name)) for name in LINE_FIELDS}
    data["add_on"] = line.parent_line_id is not None
    return data


def _licences(orders: list[Order]) -> list[dict[str, Any]]:
    """Each delivered unit: the product key (the buyer's own), download, licence file."""
    from fulfilment.delivery import unit_context
    from fulfilment.models import FulfilmentLine
    from fulfilment.secrets import open_product_key

    if not orders:
        return []
    by_id = {o.id: o for o in orders}
    lines = db.session.scalars(select(FulfilmentLine).where(
        FulfilmentLine.order_id.in_(list(by_id))).order_by(FulfilmentLine.created_at)).all()
    out = []
    for line in lines:
        for unit in line.units:
            active = unit.replaced_at is None
            key = (open_product_key(unit.product_key_ciphertext,
                                    unit_context(line, unit.unit, unit.generation))
                   if active else None)
            out.append({
                "order": by_id[line.order_id].number, "product": line.order_line.product_name,
                "unit": unit.unit, "generation": unit.generation, "status": str(unit.status),
                "product_key": key, "product_key_masked": unit.product_key_masked,
                "download_url": unit.download_url if active else None,
                "download_expires_at": plain(unit.download_expires_at),
                "licence_number": unit.licence_number,
                "licence": unit.licence_token if active else None,
                "delivered_at": plain(unit.created_at), "replaced_at": plain(unit.replaced_at),
            })
    return out


def _backups(orders: list[Order], emails: set[str]) -> list[dict[str, Any]]:
    """Backups' metadata (the sealed bundle itself opens through the shop's backup pages)."""
    from backups.vault import Backup

    line_refs = [str(line.id) for o in orders for line in o.lines]
    conditions = []
    if line_refs:
        conditions.append(Backup.order_line_ref.in_(line_refs))
    if emails:
        conditions.append(func.lower(Backup.buyer_ref).in_(emails))
    if not conditions:
        return []
    rows = db.session.scalars(select(Backup).where(or_(*conditions))
                              .order_by(Backup.created_at)).all()
    numbers = {str(line.id): o.number for o in orders for line in o.lines}
    return [{"id": str(b.id), "shop": b.partner, "order": numbers.get(b.order_line_ref),
             "status": str(b.display_status()), "created_at": plain(b.created_at),
             "stored_at": plain(b.stored_at), "expires_at": plain(b.expires_at),
             "extended_at": plain(b.extended_at), "purged_at": plain(b.purged_at)}
            for b in rows]


def _access_links(emails: set[str]) -> list[dict[str, Any]]:
    from backups.models import BackupAccessLink

    if not emails:
        return []
    rows = db.session.scalars(select(BackupAccessLink).where(
        func.lower(BackupAccessLink.email).in_(emails)).order_by(BackupAccessLink.created_at))
    return [{"email": r.email, "created_at": plain(r.created_at),
             "expires_at": plain(r.expires_at), "used_at": plain(r.used_at)} for r in rows]


def _resellers(orders: list[Order], emails: set[str]) -> dict[str, Any]:
    """Which reseller each order was credited to, and the networks that list the person."""
    from commissions.models import OrderAttribution, ResellerClient

    attributions = []
    if orders:
        numbers = {o.id: o.number for o in orders}
        rows = db.session.scalars(select(OrderAttribution).where(
            OrderAttribution.order_id.in_(list(numbers)))).all()
        attributions = [{"order": numbers[a.order_id], "reseller": a.reseller.name,
                         "reseller_code": a.reseller.code, "rule": a.rule,
                         "at": plain(a.created_at)} for a in rows]
    clients = []
    if emails:
        rows_c = db.session.scalars(select(ResellerClient).where(
            func.lower(ResellerClient.email).in_(emails))).all()
        clients = [{"reseller": c.reseller.name, "reseller_code": c.reseller.code,
                    "email": c.email, "attached_at": plain(c.attached_at), "rule": c.rule}
                   for c in rows_c]
    return {"order_attributions": attributions, "client_of": clients}


def _emails(orders: list[Order], emails: set[str]) -> list[dict[str, Any]]:
    """The e-mail log: what was owed and sent about the orders, and copies kept of messages."""
    from fulfilment.models import OutgoingEmail

    out: list[dict[str, Any]] = []
    if orders:
        numbers = {o.id: o.number for o in orders}
        rows = db.session.scalars(select(OutgoingEmail).where(
            OutgoingEmail.order_id.in_(list(numbers))).order_by(OutgoingEmail.created_at))
        out += [{"kind": r.kind, "order": numbers.get(r.order_id) if r.order_id else None,
                 "status": r.status,
                 "created_at": plain(r.created_at), "sent_at": plain(r.sent_at)} for r in rows]
    if emails:
        copies = db.session.scalars(select(CapturedMail).where(
            func.lower(CapturedMail.to).in_(emails)).order_by(CapturedMail.created_at))
        out += [{"kind": "copy", "to": m.to, "subject": m.subject, "text": m.text_body,
                 "created_at": plain(m.created_at)} for m in copies]
    return out
