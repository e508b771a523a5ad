"""The retention job: only what is due, a dry run that changes nothing, settings read."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from accounts.models import AuthSession, EmailToken
from accounts.retention import run_retention
from backups.models import BackupAccessLink
from commerce.models import CapturedMail, Order, PaymentStatus, User, utcnow
from commerce.orders import BuyerDetails, LineRequest, place_order

YEAR = timedelta(days=365)


@pytest.fixture
def aged(db, make_partner, make_product, make_user):  # type: ignore[no-untyped-def]
    """Personal data of every age: what the default schedule makes due, and what it keeps."""
    product = make_product(code="OFFICE-HOME-2024-WIN")
    shop = make_partner(slug="shop-r", products=[product])
    now = utcnow()

    def order(email: str, age: timedelta, user: User | None = None, paid: bool = True) -> Order:
        placed = place_order(shop, [LineRequest("OFFICE-HOME-2024-WIN", 1)],
                             BuyerDetails(email, "Someone"), user=user)
        placed.created_at = now - age
        if paid:
            placed.payment_status, placed.paid_at = PaymentStatus.PAID, now - age
            placed.fulfilment_status = "delivered"
        db.session.commit()
        return placed

    old = [order("old@example.com", 4 * YEAR),
           order("old@example.com", 3 * YEAR + timedelta(days=2)),
           order("abandoned@example.com", 5 * YEAR, paid=False)]
    kept = [order("mixed@example.com", 4 * YEAR), order("mixed@example.com", YEAR),
            order("holder@example.com", 4 * YEAR), order("recent@example.com", timedelta(days=30))]
    make_user(email="holder@example.com")
    signed = make_user(email="signed@example.com")
    kept.append(order("signed@example.com", 4 * YEAR, user=signed))
    stale = make_user(email="stale@example.com", email_verified_at=None)
    stale.created_at = now - timedelta(days=60)
    fresh = make_user(email="fresh@example.com", email_verified_at=None)
    fresh.created_at = now - timedelta(days=10)
    ordering = make_user(email="ordering@example.com", email_verified_at=None)
    ordering.created_at = now - timedelta(days=60)
    order("ordering@example.com", timedelta(days=40), user=ordering)
    for ended, seen in ((400, 400), (10, 10), (None, 400), (None, 0)):
        db.session.add(AuthSession(
            user_id=signed.id, door="buyer", ip="192.0.2.1", user_agent="Firefox",
            created_at=now - timedelta(days=seen), last_seen_at=now - timedelta(days=seen),
            ended_at=None if ended is None else now - timedelta(days=ended)))
    for n, expired in enumerate((3, -1)):
        db.session.add(EmailToken(token_hash=hashlib.sha256(f"t{n}".encode()).hexdigest(),
                                  purpose="verify", user_id=signed.id, email=signed.email,
                                  created_at=now - timedelta(days=4),
                                  expires_at=now - timedelta(days=expired)))
        db.session.add(BackupAccessLink(token_hash=hashlib.sha256(f"l{n}".encode()).hexdigest(),
                                        partner_id=shop.id, email=signed.email,
                                        created_at=now - timedelta(days=4),
                                        expires_at=now - timedelta(days=expired)))
    for age in (200, 10):
        db.session.add(CapturedMail(to=signed.email, subject="Hello", text_body="Body",
                                    created_at=now - timedelta(days=age)))
    db.session.commit()
    return {"old": old, "kept": kept, "users": (stale, fresh, ordering, signed)}


def _state(db) -> dict[str, object]:  # type: ignore[no-untyped-def]
    db.session.expire_all()
    return {
        "orders": sorted((o.number, o.email, o.name) for o in db.session.scalars(select(Order))),
        "users": sorted(db.session.scalars(select(User.email)).all()),
        **{model.__name__: db.session.scalar(select(func.count()).select_from(model))
           for model in (AuthSession, EmailToken, BackupAccessLink, CapturedMail)},
    }


def test_a_dry_run_tells_what_is_due_and_changes_nothing(db, aged):
    before = _state(db)
    report = run_retention(dry_run=True)
    assert (report.guests_erased, report.guest_orders) == (2, 3)
    assert report.unverified_accounts == 1 and report.sessions == 2
    assert report.tokens == 1 and report.access_links == 1 and report.email_copies == 1
    assert _state(db) == before
    assert report.lines()[0].startswith("would pseudonymise 3 guest order(s) of 2 buyer(s)")


def test_the_job_pseudonymises_and_deletes_only_what_is_due(db, aged):
    report = run_retention()
    assert (report.guests_erased, report.guest_orders, report.unverified_accounts) == (2, 3, 1)
    db.session.expire_all()
    for order in aged["old"]:
        order = db.session.get(Order, order.id)
        assert order.email.endswith("@erased.invalid") and order.name == ""
        assert order.erased_at is not None and order.total_cents > 0
    for order in aged["kept"]:
        order = db.session.get(Order, order.id)
        assert not order.email.endswith("@erased.invalid") and order.erased_at is None
    stale, fresh, ordering, signed = aged["users"]
    emails = set(db.session.scalars(select(User.email)))
    assert "stale@example.com" not in emails
    assert {"fresh@example.com", "ordering@example.com", "signed@example.com"} <= emails
    ages = sorted(round((utcnow() - s.last_seen_at).days) for s in db.session.scalars(
        select(AuthSession)))
    assert ages == [0, 10]
    assert db.session.scalar(select(func.count()).select_from(EmailToken)) == 1
    assert db.session.scalar(select(func.count()).select_from(BackupAccessLink)) == 1
    assert db.session.scalar(select(func.count()).select_from(CapturedMail)) == 1
    again = run_retention()
    assert (again.guest_orders, again.unverified_accounts, again.sessions, again.tokens,
            again.email_copies) == (0, 0, 0, 0, 0)


def test_the_periods_come_from_the_settings(app, db, aged):
    app.config["PRIVACY_GUEST_ORDER_DAYS"] = 6 * 365
    app.config["PRIVACY_SESSION_DAYS"] = 5
    report = run_retention(dry_run=True)
    assert report.guest_orders == 0 and report.sessions == 3


def test_the_command_prints_what_it_did(app, runner, db, aged):
    dry = runner.invoke(args=["privacy", "retention", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would pseudonymise 3 guest order(s) of 2 buyer(s) without an account" in dry.output
    assert "would delete 1 unconfirmed account(s) without orders" in dry.output
    assert db.session.scalar(select(func.count()).where(Order.erased_at.is_not(None))) == 0
    done = runner.invoke(args=["privacy", "retention"])
    assert done.exit_code == 0 and "did delete 2 old session record(s)" in done.output
    app.config["PRIVACY_TOKEN_DAYS"] = 0
    bad = runner.invoke(args=["privacy", "retention"])
    assert bad.exit_code == 1 and "PRIVACY_TOKEN_DAYS must be at least 1 day" in bad.output


def test_the_job_is_scheduled_daily(app):
    from extensions import celery

    entry = celery.conf.beat_schedule["accounts-apply-retention"]
    assert entry["task"] == "comptoir.accounts.apply_retention" and entry["schedule"] == 86_400.0


def test_a_due_guest_with_an_order_still_in_progress_is_skipped_and_named(db, aged):
    stuck = aged["old"][0]
    stuck.fulfilment_status = "needs_attention"
    db.session.commit()
    report = run_retention()
    assert report.guests_erased == 1 and report.guest_orders == 1  # only the abandoned checkout
    assert report.skipped == [f"a guest's orders: an order is still in progress ({stuck.number}):"
                              " it must be delivered, cancelled or refunded before the data is "
                              "erased"]
    db.session.expire_all()
    assert db.session.get(Order, stuck.id).email == "old@example.com"
