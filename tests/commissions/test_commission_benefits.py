"""The newcomer offer: a free first year, kept free by two sales a year, else billed at 50%."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from commission_helpers import at, race
from sqlalchemy import func, select

from commerce.models import PaymentStatus
from commissions import balances, run_payouts
from commissions.benefits import (
    benefit_status,
    periods_of,
    run_benefits,
    set_benefit,
)
from commissions.errors import BenefitError
from commissions.models import BenefitPeriod, LedgerEntry
from partners.models import PartnerChange

BENEFIT = "Microsoft 365 Business Standard, 5 users, for internal use"
PRICE = 63_000  # 5 users × 10.50 EUR × 12 months, VAT excluded
JOINED = datetime(2026, 2, 15, 9, 30, tzinfo=UTC)
ANNIVERSARY = datetime(2027, 2, 15, 9, 30, tzinfo=UTC)


@pytest.fixture
def newcomer(db, network, make_reseller):  # type: ignore[no-untyped-def]
    """A reseller that joined on 15 February 2026, after the offer started on 1 January."""
    reseller = make_reseller(network, code="RP-NEWC")
    reseller.created_at = JOINED
    db.session.commit()
    set_benefit(network, BENEFIT, PRICE, at(1, 1), "test")
    run_benefits(JOINED + timedelta(hours=1))
    return reseller


@pytest.fixture
def sale(db, network, sell):  # type: ignore[no-untyped-def]
    """A paid order through a reseller's code, paid at a given time."""

    def make(code: str, paid_at: datetime, status: PaymentStatus = PaymentStatus.PAID):  # type: ignore[no-untyped-def]
        order = sell(network, [("OFFICE-HOME-2024-WIN", 1)], code=code)
        order.paid_at, order.payment_status = paid_at, status
        db.session.commit()
        return order

    return make


def _charges(db) -> list[LedgerEntry]:  # type: ignore[no-untyped-def]
    return db.session.scalars(select(LedgerEntry).where(LedgerEntry.rule == "benefit.renewal")
                              .order_by(LedgerEntry.created_at)).all()


def test_a_reseller_joining_after_the_offer_starts_gets_its_first_year_free(db, network,
                                                                            make_reseller):
    early = make_reseller(network, code="RP-EARL")
    early.created_at = datetime(2025, 12, 31, 23, 59, tzinfo=UTC)
    db.session.commit()
    set_benefit(network, BENEFIT, PRICE, at(1, 1, hour=0), "test")
    joined = make_reseller(network, code="RP-JOIN")  # created now, after the start: at once

    [year1] = periods_of(joined)
    assert (year1.year, year1.status, year1.price_cents, year1.benefit_name) == (
        1, "free", 0, BENEFIT)
    assert year1.starts_at == joined.created_at
    assert year1.ends_at.year == joined.created_at.year + 1
    run_benefits(at(6, 1))
    assert periods_of(early) == []  # joined before the offer started
    assert len(periods_of(joined)) == 1 and not _charges(db)


def test_two_sales_in_the_year_keep_it_free_and_a_sale_at_the_anniversary_counts_next_year(
        db, newcomer, sale, make_reseller):
    sale("RP-NEWC", JOINED + timedelta(days=30))
    sale("RP-NEWC", ANNIVERSARY)  # exactly at the anniversary: the new year's sale
    assert run_benefits(ANNIVERSARY - timedelta(seconds=1)) == []  # not due yet

    [decision] = run_benefits(ANNIVERSARY)

    assert (decision.year, decision.status, decision.sales_counted, decision.price_cents) == (
        2, "billed", 1, 31_500)
    [charge] = _charges(db)
    assert charge.reseller_id == newcomer.id and charge.amount_cents == -31_500
    assert charge.kind == "adjustment" and charge.payable_at == ANNIVERSARY
    assert charge.explanation == (f"{BENEFIT}, year 2: 50% × 630.00 EUR public price"
                                  " (VAT excluded) = 315.00 EUR")
    assert "1 sale(s) from 2026-02-15 to 2027-02-15; 2 keep it free" in charge.reason
    year2 = periods_of(newcomer)[1]
    assert (year2.starts_at, year2.ends_at, year2.ledger_entry_id) == (
        ANNIVERSARY, datetime(2028, 2, 15, 9, 30, tzinfo=UTC), charge.id)

    # Year 2: the sale at its start and one a second before its end make two: year 3 is free.
    sale("RP-NEWC", datetime(2028, 2, 15, 9, 29, 59, tzinfo=UTC))
    [decision] = run_benefits(datetime(2028, 2, 16, 7, tzinfo=UTC))
    assert (decision.year, decision.status, decision.sales_counted) == (3, "free", 2)
    assert len(_charges(db)) == 1


def test_what_counts_as_a_sale(db, network, newcomer, sale, make_reseller):
    make_reseller(network, code="RP-OTHR")
    sale("RP-NEWC", JOINED + timedelta(days=1), PaymentStatus.REFUNDED)
    sale("RP-NEWC", JOINED + timedelta(days=2), PaymentStatus.PENDING)
    sale("RP-NEWC", JOINED + timedelta(days=3), PaymentStatus.DISPUTED)
    sale("RP-OTHR", JOINED + timedelta(days=4))
    sale("RP-NEWC", JOINED - timedelta(days=1))  # before the year started
    sale("RP-NEWC", JOINED + timedelta(days=5), PaymentStatus.PARTIALLY_REFUNDED)  # still a sale
    assert benefit_status(newcomer, ANNIVERSARY - timedelta(days=1)).sales_so_far == 1
    [decision] = run_benefits(ANNIVERSARY)
    assert (decision.sales_counted, decision.status) == (1, "billed")


def test_a_billed_year_is_netted_against_the_next_payout(db, network, newcomer, sale):
    from commissions import accrue_for_line

    for days in (10, 20, 30, 40, 50):  # paid after the anniversary: the year ended with none
        order = sale("RP-NEWC", ANNIVERSARY + timedelta(days=days))
        order.lines[0].total_cents = 480_000  # 4,000.00 EUR HT: a margin above the charge
        order.lines[0].vat_cents = 80_000
        db.session.commit()
        accrue_for_line(order.lines[0].id, now=ANNIVERSARY + timedelta(days=days))
    run_benefits(ANNIVERSARY + timedelta(days=1))
    margin = 5 * 32_000  # 400,000 × 8%
    assert balances(newcomer, ANNIVERSARY + timedelta(days=60)).payable == margin - 31_500
    [payout] = run_payouts(ANNIVERSARY + timedelta(days=60))
    assert payout.amount_cents == margin - 31_500
    assert "benefit.renewal" in payout.statement_csv


def test_repeated_runs_decide_each_anniversary_once_even_years_late(db, newcomer, runner):
    late = datetime(2030, 3, 1, tzinfo=UTC)
    decisions = run_benefits(late)
    assert [(d.year, d.status, d.outcome) for d in decisions] == [
        (2, "billed", "renewed"), (3, "billed", "renewed"), (4, "billed", "renewed"),
        (5, "billed", "renewed")]
    assert run_benefits(late) == []  # nothing due until the next anniversary
    assert len(_charges(db)) == 4

    result = runner.invoke(args=["resellers", "benefits", "--now", "2031-02-15T10:00:00+00:00"])
    assert result.exit_code == 0, result.output
    assert "RP-NEWC    year 6 from 2031-02-15  billed  0 sale(s) counted  billed 315.00 EUR" \
        "  renewed" in result.output
    assert "1 benefit year(s) decided" in result.output
    again = runner.invoke(args=["resellers", "benefits", "--now", "2031-02-15T10:00:00+00:00"])
    assert "0 benefit year(s) decided" in again.output
    assert len(_charges(db)) == 5
    bad = runner.invoke(args=["resellers", "benefits", "--now", "2031-02-15T10:00:00"])
    assert bad.exit_code != 0 and "time zone" in bad.output


def test_a_leap_day_newcomer_keeps_its_anniversary(db, network, make_reseller):
    reseller = make_reseller(network, code="RP-LEAP")
    reseller.created_at = datetime(2028, 2, 29, 12, tzinfo=UTC)
    db.session.commit()
    set_benefit(network, BENEFIT, PRICE, at(1, 1), "test")
    run_benefits(datetime(2032, 3, 1, tzinfo=UTC))
    assert [p.starts_at.date().isoformat() for p in periods_of(reseller)] == [
        "2028-02-29", "2029-02-28", "2030-02-28", "2031-02-28", "2032-02-29"]


def test_the_dashboard_status_says_what_one_more_sale_would_do(db, newcomer, sale):
    status = benefit_status(newcomer, JOINED + timedelta(days=100))
    assert (status.year, status.status, status.sales_so_far, status.sales_needed) == (
        1, "free", 0, 2)
    assert (status.ends_at, status.billed_price_cents) == (ANNIVERSARY, 31_500)
    sale("RP-NEWC", JOINED + timedelta(days=101))
    assert benefit_status(newcomer, JOINED + timedelta(days=102)).sales_needed == 1
    assert benefit_status(newcomer, JOINED + timedelta(days=100)).sales_needed == 2  # as then
    sale("RP-NEWC", JOINED + timedelta(days=200))
    assert benefit_status(newcomer, JOINED + timedelta(days=300)).keeps_free


def test_the_offer_is_checked_and_audited(db, network, make_partner, runner):
    elsewhere = make_partner(slug="sans-programme")
    for partner, name, price, starts, message in [
        (elsewhere, BENEFIT, PRICE, at(1, 1), "runs no programme"),
        (network, "  ", PRICE, at(1, 1), "name the benefit"),
        (network, "x" * 201, PRICE, at(1, 1), "name the benefit"),
        (network, BENEFIT, 0, at(1, 1), "positive"),
        (network, BENEFIT, PRICE, datetime(2026, 1, 1), "time zone"),  # noqa: DTZ001
    ]:
        with pytest.raises(BenefitError, match=message):
            set_benefit(partner, name, price, starts, "test")
    assert db.session.scalar(select(func.count()).select_from(PartnerChange).where(
        PartnerChange.action == "benefit")) == 0

    result = runner.invoke(args=["commissions", "set-benefit", network.slug, "--name", BENEFIT,
                                 "--price", "630.00", "--starts", "2026-01-01T00:00:00+01:00"])
    assert result.exit_code == 0, result.output
    [audit] = db.session.scalars(select(PartnerChange).where(PartnerChange.action == "benefit"))
    assert audit.actor == "cli" and audit.changes["benefit_price_cents"] == [None, 63_000]
    refused = runner.invoke(args=["commissions", "set-benefit", network.slug, "--name", BENEFIT,
                                  "--price", "cheap", "--starts", "2026-01-01T00:00:00+01:00"])
    assert refused.exit_code != 0 and "price" in refused.output


def test_the_benefit_job_is_scheduled(app):
    from extensions import celery

    entry = celery.conf.beat_schedule["commissions-run-benefits"]
    assert entry["task"] == "comptoir.commissions.run_benefits"


def test_concurrent_runs_bill_an_anniversary_once(app, db, postgres_only, newcomer):
    errors = race(app, lambda: run_benefits(ANNIVERSARY + timedelta(hours=1)), threads_n=6)
    assert not errors, errors
    assert db.session.scalar(select(func.count()).select_from(BenefitPeriod)) == 2
    assert len(_charges(db)) == 1
