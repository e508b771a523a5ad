"""A person's data: exported as JSON, erased on request (docs/privacy.md).

Erasure removes or pseudonymises what names the person across the account, orders, reseller
client lists, licence backups, access links, licences' copies and the e-mail log. Orders stay,
without identity, for accounting (amounts, dates, countries and VAT fields: the OSS return and
the EU sales list need them). Invoices are never touched here: their frozen copy of the buyer is
kept ten years (C. com. L123-22) and only finance staff read an erased buyer's ones
(`may_read_erased_invoices`).
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update

from accounts.models import AuthSession, EmailToken, OperatorApiKey, Passkey
from accounts.services import normalise_email, owned_orders_condition, user_by_email
from commerce.models import (
    CapturedMail,
    FulfilmentStatus,
    Order,
    PaymentStatus,
    Refund,
    Role,
    User,
)
from extensions import db, utcnow

log = logging.getLogger("comptoir.privacy")

PSEUDONYM_DOMAIN = "erased.invalid"  # RFC 2606: never delivered anywhere
ERASED_PASSWORD_HASH = "!erased"  # noqa: S105 - not an Argon2 hash: no password ever matches it
# Orders whose buyer is still owed something: erasure waits until they are settled.
IN_PROGRESS_FULFILMENT = (FulfilmentStatus.AWAITING, FulfilmentStatus.IN_PROGRESS,
                          FulfilmentStatus.PARTIALLY_DELIVERED, FulfilmentStatus.NEEDS_ATTENTION)
IN_PROGRESS_PAYMENT = (PaymentStatus.REFUND_PENDING, PaymentStatus.DISPUTED)
CHECKOUT_MAY_STILL_PAY = timedelta(days=1)  # a payment page left open may still be paid


class PrivacyError(ValueError):
    """A request about a person's data that cannot be carried out; the message says why."""


class NothingHeld(PrivacyError):
    """No account and no order uses the address (unknown, or already erased)."""


class ErasureRefused(PrivacyError):
    """Erasure must wait (an order in progress) or does not apply (a staff account)."""


@dataclass(frozen=True)
class Subject:
    """Whose data: the address, the account if any, and the orders they reach."""

    email: str
    user: User | None
    orders: list[Order]
    # The address is the person's: a confirmed account, or staff who checked who asks. Only then
    # are records found by address alone exported or erased.
    email_proven: bool = True

    @property
    def emails(self) -> set[str]:
        """The addresses to look for: the account's and those its orders were placed with."""
        found = {self.email} | {normalise_email(o.email) for o in self.orders}
        return {e for e in found if not e.endswith("@" + PSEUDONYM_DOMAIN)}


@dataclass
class ErasureReport:
    """What an erasure (or the retention job's share of one) did."""

    pseudonym: str
    account: bool = False
    orders: int = 0
    reseller_clients: int = 0
    backups: int = 0
    access_links: int = 0
    licences: int = 0
    emails: int = 0
    sessions: int = 0
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"account {'erased' if self.account else 'none'}, {self.orders} order(s), "
                f"{self.reseller_clients} reseller client record(s), {self.backups} backup(s), "
                f"{self.access_links} access link(s), {self.licences} licence record(s), "
                f"{self.emails} e-mail(s), {self.sessions} session(s) ended")


# --- finding the person ---------------------------------------------------------------------------


def subject_for_email(email: str) -> Subject:
    """Everything held under an address, for staff answering a request (identity checked by them).

    NothingHeld when no account and no order uses it.
    """
    address = normalise_email(email)
    if not address or "@" not in address:
        raise PrivacyError(f"{email!r} is not an e-mail address")
    user = user_by_email(address)
    condition = func.lower(Order.email) == address
    if user is not None:
        condition = or_(condition, Order.buyer_id == user.id)
    orders = list(db.session.scalars(select(Order).where(condition).order_by(Order.created_at)))
    if user is None and not orders:
        raise NothingHeld(f"no account or order uses {address} (unknown, or already erased)")
    return Subject(address, user, orders)


def subject_for_user(user: User) -> Subject:
    """A signed-in buyer's data: the orders their account reaches (owned_orders_condition: guest
    orders of the address only once it is proven)."""
    orders = list(db.session.scalars(
        select(Order).where(owned_orders_condition(user)).order_by(Order.created_at)))
    # An erased account's pseudonym is no one's address: erasing it again finds nothing more.
    proven = user.email_verified or user.erased_at is not None
    return Subject(normalise_email(user.email), user, orders, email_proven=proven)


def is_erased(order: Order) -> bool:
    """Tell whether the order's buyer identity was erased: its invoices are for finance staff."""
    return order.erased_at is not None


def may_read_erased_invoices(user: User | None) -> bool:
    """Only an active operator flagged finance reads the invoices of an erased buyer."""
    return bool(user is not None and user.active and user.role == Role.OPERATOR and user.finance)


def may_read_invoice(user: User | None, order: Order) -> bool:
    """The rule for invoice views: anyone who may see the order, unless its buyer was erased."""
    return not is_erased(order) or may_read_erased_invoices(user)


def set_finance(user: User, finance: bool) -> None:
    """Grant or withdraw the finance permission of an operator (the caller commits)."""
    if user.role != Role.OPERATOR:
        raise PrivacyError(f"only operators can be finance staff; {user.email} is not one "
                           f"({user.role})")
    user.finance = finance


# --- export --------------------------------------------------------------------------------------


def export_data(subject: Subject, *, email_proven: bool) -> dict[str, Any]:
    """All the person's data as JSON-ready values.

    email_proven: the address is the person's (a confirmed account, or staff who checked it);
    only then are records found by address alone (backups, reseller lists, e-mails) included.
    """
    from accounts.export import export_sections

    return export_sections(subject, email_proven=email_proven)


# --- erasure -------------------------------------------------------------------------------------


def check_erasable(subject: Subject) -> None:
    """Refuse a staff account, or while an order is still owed delivery or a refund."""
    user = subject.user
    if not subject.email_proven:
        raise ErasureRefused(f"the address {subject.email} is not confirmed yet: confirm it "
                             "first, or ask the shop")
    if user is not None and user.role != Role.BUYER:
        raise ErasureRefused(f"{user.email} is a staff account ({user.role}): disable it "
                             "(comptoir users disable); only buyers' data is erased here")
    busy = [o.number for o in subject.orders if o.erased_at is None and in_progress(o)]
    if busy:
        raise ErasureRefused("an order is still in progress (" + ", ".join(busy) + "): it must "
                             "be delivered, cancelled or refunded before the data is erased")
    running = _running_subscriptions(subject)
    if running:
        raise ErasureRefused("a subscription still runs (" + ", ".join(running) + "): stop its "
                             "renewal first; the data can be erased once it has ended")


def _running_subscriptions(subject: Subject) -> list[str]:
    """The person's subscriptions that still renew or may still be paid."""
    from subscriptions.models import LIVE_STATUSES, Subscription

    if not subject.emails:
        return []
    return list(db.session.scalars(select(Subscription.number).where(
        Subscription.email.in_(subject.emails), Subscription.status.in_(LIVE_STATUSES))))


def in_progress(order: Order, now: datetime | None = None) -> bool:
    """Paid and not yet delivered or cancelled, with a refund or dispute under way, or a
    checkout of the last day that may still be paid."""
    if order.payment_status in IN_PROGRESS_PAYMENT:
        return True
    if order.payment_status == PaymentStatus.PENDING:
        if order.vies_status == "held":  # waiting for VIES, then e-mailed a link to pay
            return True
        return order.created_at > (now or utcnow()) - CHECKOUT_MAY_STILL_PAY
    if db.session.scalar(select(Refund.id).where(Refund.order_id == order.id,
                                                 Refund.status == "pending")) is not None:
        return True
    return (order.payment_status in (PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED)
            and order.fulfilment_status in (FulfilmentStatus.UNFULFILLED, *IN_PROGRESS_FULFILMENT))


def new_pseudonym() -> str:
    return f"erased-{uuid.uuid4().hex[:20]}@{PSEUDONYM_DOMAIN}"


def erase(subject: Subject, *, actor: str, now: datetime | None = None) -> ErasureReport:
    """Erase the person's data everywhere; harmless when repeated. Commits.

    The vault's backups go first (their keys destroyed, objects deleted: backups.vault
    erase_buyer, which commits on its own), then one transaction pseudonymises the rest.
    """
    from backups.vault import erase_buyer

    check_erasable(subject)
    now = now or utcnow()
    user = subject.user
    already = user is not None and user.erased_at is not None
    pseudonym = user.email if already and user is not None else new_pseudonym()
    report = ErasureReport(pseudonym)
    emails = subject.emails
    for address in sorted(emails):
        report.backups += erase_buyer(address, actor_id=actor, now=now)
    live = [o for o in subject.orders if o.erased_at is None]
    _scrub_api_answers(live, pseudonym)
    report.orders = erase_orders(live, pseudonym, now)
    report.reseller_clients = _pseudonymise_reseller_clients(emails, pseudonym, actor)
    _pseudonymise_subscriptions(emails, pseudonym)
    report.licences = _pseudonymise_licences(emails, subject.orders, pseudonym)
    report.access_links = _delete_rows(_access_links(emails))
    report.emails = _erase_email_log(emails, subject.orders)
    if user is not None and not already:
        report.sessions = _erase_account(user, pseudonym, now)
        report.account = True
    db.session.commit()
    log.info("privacy: erasure by %s as %s: %s", actor, pseudonym, report.summary())
    return report


def erase_orders(orders: list[Order], pseudonym: str, now: datetime) -> int:
    """Remove the buyer's identity from orders; their links stop working (no commit).

    Kept: amounts, lines, dates, statuses, the countries (billing, VAT, and the location
    evidence the OSS rules require to keep ten years) and the VAT number and VIES answer of a
    business (the EU sales list names it).
    """
    for order in orders:
        order.email = pseudonym
        order.name = ""
        order.company = ""
        order.billing_line1 = order.billing_postcode = order.billing_city = ""
        order.access_version = order.access_version + 1
        order.erased_at = now
    db.session.flush()
    return len(orders)


def _scrub_api_answers(orders: list[Order], pseudonym: str) -> None:
    """Copies of the order kept for partners hold it as it was: the API's remembered answers
    (replayed for a repeated Idempotency-Key) and the webhooks' bodies (sent again on a replay).
    Their identity fields are replaced as on the order itself (no commit)."""
    from partner_api.models import ApiIdempotency
    from webhooks.models import WebhookDelivery

    for order in orders:
        replace = {order.email: pseudonym, **{value: "" for value in (
            order.name, order.company, order.billing_line1, order.billing_postcode,
            order.billing_city) if value}}
        answers = db.session.scalars(select(ApiIdempotency).where(
            ApiIdempotency.order_id == order.id, ApiIdempotency.response_body.is_not(None)))
        for answer in answers:
            answer.response_body = _scrubbed(answer.response_body or "", replace)
        deliveries = db.session.scalars(select(WebhookDelivery).where(
            WebhookDelivery.body.contains(str(order.id), autoescape=True)))
        for delivery in deliveries:
            delivery.body = _scrubbed(delivery.body, replace)


def _scrubbed(body: str, replace: dict[str, str]) -> str:
    try:
        return json.dumps(_replaced(json.loads(body), replace), ensure_ascii=False)
    except ValueError:
        return json.dumps({"erased": True})


def _replaced(value: Any, replace: dict[str, str]) -> Any:
    if isinstance(value, str):
        return replace.get(value, value)
    if isinstance(value, list):
        return [_replaced(v, replace) for v in value]
    if isinstance(value, dict):
        return {k: _replaced(v, replace) for k, v in value.items()}
    return value


def _pseudonymise_subscriptions(emails: set[str], pseudonym: str) -> None:
    """An ended subscription keeps its terms and history, no longer the person's address."""
    from sqlalchemy import update

    from subscriptions.models import Subscription

    if emails:
        db.session.execute(update(Subscription).where(Subscription.email.in_(emails))
                           .values(email=pseudonym).execution_options(synchronize_session=False))


def _pseudonymise_reseller_clients(emails: set[str], pseudonym: str, actor: str) -> int:
    from commissions.models import ResellerClient

    if not emails:
        return 0
    rows = db.session.scalars(
        select(ResellerClient).where(func.lower(ResellerClient.email).in_(emails))).all()
    seen: set[uuid.UUID] = set()
    for row in rows:
        if row.partner_id in seen:  # two spellings of one address in one network: keep one
            db.session.delete(row)
            continue
        seen.add(row.partner_id)
        row.email = pseudonym
        row.changed_by = f"erasure:{actor}"[:60]
    db.session.flush()
    return len(rows)


def _pseudonymise_licences(emails: set[str], orders: list[Order], pseudonym: str) -> int:
    """Licence records and delivered units keep no copy naming the buyer; the buyer's own
    signed licence files stay valid (verification needs only the signature)."""
    from fulfilment.models import DeliveredUnit, FulfilmentLine
    from licensing.models import LicenceRecord

    count = 0
    if emails:
        count = int(db.session.execute(
            update(LicenceRecord).where(func.lower(LicenceRecord.buyer_ref).in_(emails))
            .values(buyer_ref=pseudonym, token="")
            .execution_options(synchronize_session=False)).rowcount or 0)  # type: ignore[attr-defined]
    order_ids = [o.id for o in orders]
    if order_ids:
        lines = select(FulfilmentLine.id).where(FulfilmentLine.order_id.in_(order_ids))
        db.session.execute(
            update(DeliveredUnit).where(DeliveredUnit.fulfilment_line_id.in_(lines))
            .values(licence_token=None).execution_options(synchronize_session=False))
    return count


def _access_links(emails: set[str]) -> Any:
    from backups.models import BackupAccessLink

    return delete(BackupAccessLink).where(func.lower(BackupAccessLink.email).in_(emails))


def _delete_rows(statement: Any) -> int:
    result = db.session.execute(statement.execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _erase_email_log(emails: set[str], orders: list[Order]) -> int:
    """Copies of e-mails sent to the person go; e-mails still owed to them are not sent."""
    from fulfilment.models import OutgoingEmail

    count = 0
    if emails:
        count = _delete_rows(delete(CapturedMail).where(func.lower(CapturedMail.to).in_(emails)))
    order_ids = [o.id for o in orders]
    if order_ids:
        count += _delete_rows(delete(OutgoingEmail).where(
            OutgoingEmail.order_id.in_(order_ids), OutgoingEmail.status != "sent"))
    return count


def _erase_account(user: User, pseudonym: str, now: datetime) -> int:
    """Pseudonymise and deactivate the account, end every session, drop its factors."""
    ended = int(db.session.execute(
        update(AuthSession).where(AuthSession.user_id == user.id, AuthSession.ended_at.is_(None))
        .values(ended_at=now, end_reason="account erased")
        .execution_options(synchronize_session=False)).rowcount or 0)  # type: ignore[attr-defined]
    db.session.execute(update(AuthSession).where(AuthSession.user_id == user.id)
                       .values(ip="", user_agent="").execution_options(synchronize_session=False))
    for model in (EmailToken, Passkey, OperatorApiKey):
        _delete_rows(delete(model).where(model.user_id == user.id))
    user.email = pseudonym
    user.name = ""
    user.password_hash = ERASED_PASSWORD_HASH
    user.active = False
    user.totp_secret = None
    user.totp_last_step = None
    user.email_verified_at = None
    user.erased_at = now
    return ended
