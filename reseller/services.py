"""What the reseller portal reads and does, always scoped to one signed-in reseller.

A reseller sees the orders attributed to them, and the orders of the buyers attached to them
that no other reseller sold; they pull up stored licences only for lines of those orders whose
buyer is attached to them. Everything else is "not found", and the attempt is logged.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import selectinload

from accounts import factors
from accounts.services import authenticate
from backups.vault import (
    AccessAction,
    Actor,
    ActorKind,
    Backup,
    BackupContents,
    BackupExpired,
    BackupNotFound,
    BackupStatus,
    BackupUnavailable,
    TamperedBackup,
    backup_for_line,
    backups_for_lines,
    open_backup,
)
from commerce.models import (
    LicenceType,
    Order,
    OrderLine,
    Partner,
    PaymentStatus,
    Product,
    Role,
    User,
)
from commerce.paging import Page, paginate
from commerce.passwords import check_password
from commissions import Balances, balances, reseller_for_user
from commissions.bank import BankDetails, check_bank_details, set_bank_details
from commissions.models import LedgerEntry, OrderAttribution, Reseller, ResellerClient
from commissions.payouts import PayoutOutlook, outlook
from commissions.reports import client_count, order_count, recent_orders
from commissions.services import RENEWAL_WINDOW
from extensions import db
from fulfilment.delivery import line_deliveries, subscription_end
from fulfilment.mail import Mail, send_mail
from fulfilment.models import LineStatus
from licensing.models import LicenceRecord

log = logging.getLogger("comptoir.reseller")

ALERT_HORIZON = timedelta(days=30)
RECENT_ORDERS = 10
CLIENTS_PAGE_SIZE = 50
LIVE_BACKUPS = (BackupStatus.PENDING, BackupStatus.STORED)


class NotVisible(LookupError):
    """What the reseller asked for is not theirs (or does not exist): show 404."""


# --- signing in ---------------------------------------------------------------------------------


def authenticate_reseller(partner: Partner, email: str, password: str) -> Reseller | None:
    """The active reseller of this partner's network with these credentials, else None."""
    user = authenticate(email, password, role=Role.RESELLER)
    if user is None:
        return None
    reseller = reseller_for_user(user.id)
    if reseller is None or not reseller.active or reseller.partner_id != partner.id:
        return None
    return reseller


def portal_reseller(user_id: uuid.UUID, partner: Partner) -> Reseller | None:
    """The reseller a signed-in user acts for, if it belongs to this partner's network."""
    reseller = reseller_for_user(user_id)
    if reseller is None or not reseller.active or reseller.partner_id != partner.id:
        return None
    return reseller


def totp_enabled(reseller: Reseller) -> bool:
    """Whether sign-in asks this reseller for a code."""
    user = _user(reseller)
    return user is not None and factors.totp_enabled(user)


def check_totp(reseller: Reseller, code: str) -> bool:
    """Check a code against the reseller's second factor; each code is accepted once."""
    user = _user(reseller)
    return user is not None and factors.check_totp(user, code)


def enable_totp(reseller: Reseller, secret: str, code: str) -> bool:
    """Turn the second factor on once a code from the new secret checks out."""
    user = _user(reseller)
    if user is None or not factors.enable_totp(user, secret, code):
        return False
    log.info("reseller %s enabled two-step sign-in", reseller.code)
    return True


def disable_totp(reseller: Reseller, code: str) -> bool:
    """Turn the second factor off, on a current code."""
    user = _user(reseller)
    if user is None or not factors.disable_totp(user, code):
        return False
    log.info("reseller %s disabled two-step sign-in", reseller.code)
    return True


class NotConfirmed(PermissionError):
    """The password (field "password") or the second-factor code (field "code") was wrong."""

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


def change_bank_details(reseller: Reseller, iban: str, bic: str, holder: str, *, password: str,
                        code: str | None, source: str | None) -> BankDetails:
    """Change the payout account on the reseller's password, and code when two-step is on.

    The account is checked first (InvalidBankDetails, nothing stored); then the password and
    the code (NotConfirmed, logged): a payee change is what an account thief wants most.
    """
    check_bank_details(iban, bic, holder)
    user = _user(reseller)
    if user is None or not check_password(user.password_hash, password or ""):
        log.warning("security: reseller %s bank details change refused from %s: wrong password",
                    reseller.code, source)
        raise NotConfirmed("password")
    if factors.totp_enabled(user) and not factors.check_totp(user, code or ""):
        log.warning("security: reseller %s bank details change refused from %s: wrong code",
                    reseller.code, source)
        raise NotConfirmed("code")
    return set_bank_details(reseller, iban, bic, holder, actor=f"reseller:{reseller.code}",
                            source=source)


def _user(reseller: Reseller) -> User | None:
    return db.session.get(User, reseller.user_id) if reseller.user_id else None


# --- what a reseller may see --------------------------------------------------------------------


def _visible_orders(reseller: Reseller) -> Select:
    """Orders attributed to the reseller, or of their clients and attributed to no one."""
    client_emails = select(ResellerClient.email).where(ResellerClient.reseller_id == reseller.id)
    return (
        select(Order)
        .outerjoin(OrderAttribution, OrderAttribution.order_id == Order.id)
        .where(Order.partner_id == reseller.partner_id,
               or_(OrderAttribution.reseller_id == reseller.id,
                   and_(OrderAttribution.id.is_(None), Order.email.in_(client_emails))))
    )


def client_of(reseller: Reseller, client_id: uuid.UUID) -> ResellerClient:
    """One of the reseller's clients; NotVisible (logged) for anyone else's."""
    client = db.session.scalar(select(ResellerClient).where(
        ResellerClient.id == client_id, ResellerClient.reseller_id == reseller.id,
        ResellerClient.partner_id == reseller.partner_id))
    if client is None:
        log.warning("reseller %s refused client %s: not attached to them", reseller.code, client_id)
        raise NotVisible(str(client_id))
    return client


def visible_order(reseller: Reseller, order_id: uuid.UUID) -> Order:
    """One order the reseller may see (its own client's); NotVisible (logged) otherwise."""
    order = db.session.scalar(_visible_orders(reseller).where(Order.id == order_id))
    if order is None:
        log.warning("reseller %s refused order %s: not one of their clients'", reseller.code,
                    order_id)
        raise NotVisible(str(order_id))
    return order


def client_orders(reseller: Reseller, client: ResellerClient) -> list[Order]:
    """The client's orders the reseller may see, newest first."""
    return list(db.session.scalars(
        _visible_orders(reseller).where(Order.email == client.email)
        .order_by(Order.created_at.desc())))


@dataclass(frozen=True)
class ClientRow:
    """A client in the reseller's list."""

    id: uuid.UUID
    email: str
    name: str
    attached_at: datetime
    orders: int


def search_clients(reseller: Reseller, query: str = "", number: int = 1,
                   size: int = CLIENTS_PAGE_SIZE) -> Page[ClientRow]:
    """Page `number` of the reseller's clients, newest first, whose e-mail or name contains
    the query; PageNotFound past the last page. Three queries whatever the number of clients:
    the count, the page, and the page's names and order counts."""
    stmt = select(ResellerClient).where(ResellerClient.reseller_id == reseller.id)
    needle = query.strip().lower()
    if needle:
        named = select(Order.email).where(Order.partner_id == reseller.partner_id,
                                          func.lower(Order.name).contains(needle, autoescape=True))
        stmt = stmt.where(or_(ResellerClient.email.contains(needle, autoescape=True),
                              ResellerClient.email.in_(named)))
    page = paginate(stmt.order_by(ResellerClient.attached_at.desc(), ResellerClient.id),
                    number, size)
    names = _names_and_counts(reseller, [c.email for c in page.items])

    def row(client: ResellerClient) -> ClientRow:
        name, orders = names.get(client.email, ("", 0))
        return ClientRow(client.id, client.email, name, client.attached_at, orders)

    return page.map(row)


def _names_and_counts(reseller: Reseller, emails: list[str]) -> dict[str, tuple[str, int]]:
    """Each client's name on their latest visible order, and how many they placed."""
    if not emails:
        return {}
    ranked = (_visible_orders(reseller).where(Order.email.in_(emails))
              .with_only_columns(
                  Order.email, Order.name,
                  func.count().over(partition_by=Order.email).label("orders"),
                  func.row_number().over(partition_by=Order.email,
                                         order_by=(Order.created_at.desc(), Order.id))
                  .label("rank"))
              .subquery())
    rows = db.session.execute(select(ranked.c.email, ranked.c.name, ranked.c.orders)
                              .where(ranked.c.rank == 1))
    return {email: (name, int(orders)) for email, name, orders in rows}


# --- the client's licences ----------------------------------------------------------------------


@dataclass(frozen=True)
class UnitRow:
    """A delivered unit as the portal lists it: the product key masked."""

    unit: int
    product_key_masked: str
    licence_number: str | None


@dataclass(frozen=True)
class LineLicences:
    """A software line of a client's order: its delivery, units and backup."""

    order: Order
    line: OrderLine
    delivery_status: str | None
    units: list[UnitRow]
    backup_status: str | None
    backup_expires_at: datetime | None


def client_licences(orders: list[Order], now: datetime) -> list[LineLicences]:
    """Each software line of these orders with its masked units and backup state."""
    backups = backups_for_lines(str(line.id) for order in orders for line in order.product_lines)
    rows = []
    for order in orders:
        deliveries = line_deliveries(order)
        for line in order.product_lines:
            fulfilment_line, _views = deliveries.get(line.id, (None, []))
            units = []
            if fulfilment_line is not None and fulfilment_line.status == LineStatus.DELIVERED:
                units = [UnitRow(u.unit, u.product_key_masked, u.licence_number)
                         for u in fulfilment_line.active_units]
            backup = backups.get(str(line.id))
            rows.append(LineLicences(
                order, line, str(fulfilment_line.status) if fulfilment_line else None, units,
                str(backup.display_status(now)) if backup else None,
                backup.expires_at if backup else None))
    return rows


@dataclass(frozen=True)
class PulledLicence:
    """The outcome of pulling up a stored licence: the bundle, or why it cannot be shown."""

    client: ResellerClient
    order: Order
    line: OrderLine
    contents: BackupContents | None = None
    expired_on: date | None = None
    problem: str | None = None  # "unavailable" or "damaged"


def _licence_target(reseller: Reseller, line_id: uuid.UUID) -> tuple[ResellerClient, Order,
                                                                          OrderLine, Backup]:
    line = db.session.get(OrderLine, line_id)
    order = line.order if line is not None else None
    client = None
    if order is not None and order.partner_id == reseller.partner_id:
        attributed = db.session.scalar(
            select(OrderAttribution.reseller_id).where(OrderAttribution.order_id == order.id))
        if attributed in (None, reseller.id):
            client = db.session.scalar(select(ResellerClient).where(
                ResellerClient.partner_id == reseller.partner_id,
                ResellerClient.reseller_id == reseller.id, ResellerClient.email == order.email))
    if line is None or order is None or client is None:
        log.warning("reseller %s refused the licence of order line %s: not their client's",
                    reseller.code, line_id)
        raise NotVisible(str(line_id))
    backup = backup_for_line(str(line.id))
    if backup is None:
        raise NotVisible(str(line_id))
    return client, order, line, backup


def pull_licence(reseller: Reseller, line_id: uuid.UUID, source: str | None,
                 action: AccessAction = AccessAction.VIEW) -> PulledLicence:
    """Open a client's stored licence through the vault, audited as this reseller."""
    client, order, line, backup = _licence_target(reseller, line_id)
    actor = Actor(ActorKind.RESELLER, reseller.code, source)
    try:
        contents = open_backup(backup.id, actor, action=action, partner=reseller.partner.slug,
                               buyer_ref=order.email)
    except BackupNotFound as exc:
        raise NotVisible(str(line_id)) from exc
    except BackupExpired as exc:
        return PulledLicence(client, order, line, expired_on=exc.expired_on)
    except BackupUnavailable:
        return PulledLicence(client, order, line, problem="unavailable")
    except TamperedBackup:
        return PulledLicence(client, order, line, problem="damaged")
    return PulledLicence(client, order, line, contents=contents)


def resend_licence(reseller: Reseller, line_id: uuid.UUID, source: str | None) -> PulledLicence:
    """Open the stored licence (audited as a re-send) and e-mail it to the client."""
    pulled = pull_licence(reseller, line_id, source, action=AccessAction.RESEND)
    if pulled.contents is not None:
        send_mail(licence_mail(pulled, reseller))
        log.info("reseller %s re-sent the licence of order line %s to the client",
                 reseller.code, line_id)
    return pulled


def licence_mail(pulled: PulledLicence, reseller: Reseller) -> Mail:
    """The e-mail that re-sends a stored licence, in the buyer's language and partner's brand."""
    assert pulled.contents is not None
    order, partner = pulled.order, pulled.order.partner
    with force_locale(order.locale or current_app.config["DEFAULT_LOCALE"]):
        context = {"order": order, "partner": partner, "line": pulled.line,
                   "bundle": pulled.contents.bundle, "reseller": reseller}
        subject = _("Your licence for %(product)s, sent again", product=pulled.line.product_name)
        text = render_template("reseller/emails/licence.txt", **context)
        html = render_template("reseller/emails/licence.html", **context)
    return Mail(to=order.email, subject=f"{partner.name} · {subject}", text=text, html=html,
                reply_to=reseller.email or partner.support_email or None)


# --- dashboard and alerts -----------------------------------------------------------------------


@dataclass(frozen=True)
class SubscriptionAlert:
    """A subscription of a client that renews or ends soon, or whose renewal is unpaid.

    `state`: "renews" (it will be charged), "ends" (the client stopped the renewal), "past_due"
    (the renewal's payment failed), or "ends" for a prepaid term bought outside subscriptions.
    """

    order: Order
    line: OrderLine
    ends_at: datetime
    client_id: uuid.UUID | None
    state: str = "ends"
    number: str = ""
    seats: int = 0


@dataclass(frozen=True)
class BackupAlert:
    """A client's licence backup that expires soon."""

    order: Order
    line: OrderLine
    expires_at: datetime
    client_id: uuid.UUID | None


@dataclass(frozen=True)
class Alerts:
    """What needs the reseller's attention within the next 30 days, soonest first."""

    subscriptions: list[SubscriptionAlert] = field(default_factory=list)
    backups: list[BackupAlert] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.subscriptions or self.backups)

    @property
    def count(self) -> int:
        return len(self.subscriptions) + len(self.backups)


def alerts_for(reseller: Reseller, now: datetime) -> Alerts:
    """Subscriptions renewing or ending and backups expiring within 30 days.

    A fixed number of queries however many orders the reseller has: the backups are looked
    up by their expiry, the prepaid subscriptions' lines and their renewals in one query each,
    and the clients only for the alerts found.
    """
    horizon = now + ALERT_HORIZON
    subscriptions = _contract_alerts(reseller, now, horizon) + [
        SubscriptionAlert(order, line, ends_at, None)
        for order, line, ends_at in _subscription_ends(reseller)
        if now <= ends_at <= horizon
    ]
    backups = _backup_alerts(reseller, now, horizon)
    emails = {a.order.email for a in subscriptions} | {a.order.email for a in backups}
    client_ids = dict(db.session.execute(
        select(ResellerClient.email, ResellerClient.id)
        .where(ResellerClient.reseller_id == reseller.id, ResellerClient.email.in_(emails))
    ).all()) if emails else {}
    return Alerts(
        sorted((replace(a, client_id=client_ids.get(a.order.email)) for a in subscriptions),
               key=lambda a: a.ends_at),
        sorted((replace(a, client_id=client_ids.get(a.order.email)) for a in backups),
               key=lambda a: a.expires_at))


def _paid_lines(reseller: Reseller) -> Select:
    """The product lines of the paid orders the reseller may see, as (order, line) rows."""
    return (_visible_orders(reseller).add_columns(OrderLine)
            .join(OrderLine, OrderLine.order_id == Order.id)
            .where(Order.payment_status == PaymentStatus.PAID, OrderLine.parent_line_id.is_(None)))


def _backup_alerts(reseller: Reseller, now: datetime, horizon: datetime) -> list[BackupAlert]:
    """The live backups of the shop expiring by `horizon`, kept when their line is one of the
    reseller's clients' paid lines."""
    expiring = {b.order_line_ref: b for b in db.session.scalars(select(Backup).where(
        Backup.partner == reseller.partner.slug, Backup.status.in_(LIVE_BACKUPS),
        Backup.expires_at > now, Backup.expires_at <= horizon))}
    line_ids = [_line_id(ref) for ref in expiring]
    if not any(line_ids):
        return []
    rows = db.session.execute(
        _paid_lines(reseller).where(OrderLine.id.in_([i for i in line_ids if i]))).all()
    return [BackupAlert(order, line, expiring[str(line.id)].expires_at, None)
            for order, line in rows]


def _line_id(ref: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(ref)
    except ValueError:
        return None


def _contract_alerts(reseller: Reseller, now: datetime,
                     horizon: datetime) -> list[SubscriptionAlert]:
    """The reseller's clients' subscriptions whose term ends by `horizon`, or whose renewal is
    unpaid. Their end is the subscription's own: users or applications added change nothing."""
    from subscriptions.models import LIVE_STATUSES, Subscription, SubscriptionStatus

    subs = db.session.scalars(select(Subscription).options(selectinload(Subscription.items))
                              .where(
        Subscription.reseller_id == reseller.id, Subscription.status.in_(LIVE_STATUSES),
        or_(Subscription.status == SubscriptionStatus.PAST_DUE,
            Subscription.current_period_end.between(now, horizon)))).all()
    if not subs:
        return []
    first_lines = {sub.id: sub.items[0].origin_order_line_id for sub in subs if sub.items}
    orders = {o.id: o for o in db.session.scalars(
        select(Order).where(Order.id.in_({sub.origin_order_id for sub in subs})))}
    ids = [i for i in first_lines.values() if i is not None]
    lines = {line.id: line for line in db.session.scalars(
        select(OrderLine).where(OrderLine.id.in_(ids)))} if ids else {}
    alerts = []
    for sub in subs:
        order = orders.get(sub.origin_order_id)
        line = lines.get(first_lines.get(sub.id))  # type: ignore[arg-type]
        if order is None or line is None:
            continue
        state = ("past_due" if sub.status == SubscriptionStatus.PAST_DUE
                 else "ends" if sub.cancel_at_period_end else "renews")
        alerts.append(SubscriptionAlert(order, line, sub.current_period_end, None, state,
                                        sub.number, sub.seats))
    return alerts


def _subscription_ends(reseller: Reseller) -> list[tuple[Order, OrderLine, datetime]]:
    """Each prepaid subscription line's end (its licence's expiry, else paid_at + term), unless
    renewed; lines that opened a subscription, and subscriptions' own charges, are left to
    `_contract_alerts`."""
    from subscriptions.models import SubscriptionItem

    rows = db.session.execute(
        _paid_lines(reseller).add_columns(Product.term_months)
        .join(Product, Product.id == OrderLine.product_id)
        .where(Product.licence_type == LicenceType.SUBSCRIPTION, Order.paid_at.is_not(None),
               Order.source != "subscription",
               OrderLine.id.not_in(select(SubscriptionItem.origin_order_line_id).where(
                   SubscriptionItem.origin_order_line_id.is_not(None))))).all()
    if not rows:
        return []
    expiries = dict(db.session.execute(
        select(LicenceRecord.order_line_ref, func.min(LicenceRecord.expires_at))
        .where(LicenceRecord.order_line_ref.in_([str(line.id) for _, line, _t in rows]))
        .group_by(LicenceRecord.order_line_ref)).all())
    later = _later_purchases(reseller.partner_id, rows)
    ends = []
    for order, line, term in rows:
        assert order.paid_at is not None
        term_end = subscription_end(order.paid_at, term)
        if any(order.paid_at < paid_at and paid_at >= term_end - RENEWAL_WINDOW
               for paid_at in later.get((order.email, line.product_code), ())):
            continue  # renewed: the buyer paid for it again near the end of its term
        ends.append((order, line, expiries.get(str(line.id)) or term_end))
    return ends


def _later_purchases(partner_id: uuid.UUID,
                     rows: Sequence[Any]) -> dict[tuple[str, str], list[datetime]]:
    """When each buyer paid for each of these products in the shop, outside subscriptions'
    own charges (users added mid-term are lines of those, so they renew nothing)."""
    emails = {order.email for order, _line, _term in rows}
    codes = {line.product_code for _order, line, _term in rows}
    paid: dict[tuple[str, str], list[datetime]] = {}
    for email, code, paid_at in db.session.execute(
            select(Order.email, OrderLine.product_code, Order.paid_at)
            .join(OrderLine, OrderLine.order_id == Order.id)
            .where(Order.partner_id == partner_id, Order.email.in_(emails),
                   Order.payment_status == PaymentStatus.PAID, Order.source != "subscription",
                   OrderLine.product_code.in_(codes), OrderLine.parent_line_id.is_(None))):
        if paid_at is not None:
            paid.setdefault((email, code), []).append(paid_at)
    return paid


@dataclass(frozen=True)
class Dashboard:
    """The figures on the reseller's home page."""

    clients: int
    recent_orders: list[Order]
    orders_total: int
    balances: Balances
    next_payable_at: datetime | None
    alerts: Alerts
    payout: PayoutOutlook


def dashboard(reseller: Reseller, now: datetime) -> Dashboard:
    """Clients, recent orders, commissions by state, next payout and alerts: counted and
    summed in SQL, the same queries at ten orders as at ten thousand."""
    next_payable_at = db.session.scalar(
        select(func.min(LedgerEntry.payable_at))
        .where(LedgerEntry.reseller_id == reseller.id, LedgerEntry.payout_id.is_(None),
               LedgerEntry.payable_at > now))
    return Dashboard(client_count(reseller), recent_orders(reseller, RECENT_ORDERS),
                     order_count(reseller), balances(reseller, now), next_payable_at,
                     alerts_for(reseller, now), outlook(reseller, now))
