"""Worked examples through the ledger: exact cents, once per line, refunds and payouts."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from commission_helpers import at, line_of
from sqlalchemy import func, select
from support.processes import PATIENCE, join_all

from commerce.orders import ADDON_BACKUP, ADDON_INSTALL
from commissions import (
    SubscriptionEvent,
    accrue_for_delivery,
    accrue_for_line,
    accrue_for_order,
    add_promotion,
    adjust,
    balances,
    clawback_for_line,
    clawback_for_refund,
    run_payouts,
)
from commissions.errors import InvalidAdjustment
from commissions.models import EntryKind, LedgerEntry, ProgrammeVersion


def _count(db, **where) -> int:  # type: ignore[no-untyped-def]
    query = select(func.count()).select_from(LedgerEntry)
    for name, value in where.items():
        query = query.where(getattr(LedgerEntry, name) == value)
    return db.session.scalar(query)


def test_perpetual_office_with_backup_under_doubled_margins(db, network, make_reseller, sell):
    reseller = make_reseller(network, code="RP-7K3M")
    add_promotion(network, "Marges arrière doublées", Decimal(2), at(3, 1), at(4, 1))
    order = sell(network, [("OFFICE-HOME-2024-WIN", 1, (ADDON_BACKUP,))], code="rp-7k3m")

    office, backup = accrue_for_delivery(line_of(order, "OFFICE-HOME-2024-WIN").id, now=at(3, 10))

    # 149.00 TTC -> 124.17 HT; 12417 × 8% × 2 = 1986.72 -> 1987
    assert (office.amount_cents, office.rule, office.rate) == (1987, "perpetual.office",
                                                               Decimal("0.16"))
    assert office.reseller_id == reseller.id and office.kind == EntryKind.ACCRUAL
    assert office.payable_at == at(3, 12)
    assert db.session.get(ProgrammeVersion, office.programme_version_id).label == "v2026-01-01"
    # backup 9.90 TTC -> 8.25 HT; 825 × 30% × 2 = 495
    assert (backup.amount_cents, backup.rule) == (495, "addon.backup")
    assert "× 2 (promotion: Marges arrière doublées)" in backup.explanation


def test_same_sale_after_the_promotion_ends_is_not_doubled(db, network, make_reseller, sell):
    make_reseller(network, code="RP-7K3M")
    add_promotion(network, "Marges arrière doublées", Decimal(2), at(3, 1), at(4, 1))
    order = sell(network, [("OFFICE-HOME-2024-WIN", 1)], code="RP-7K3M")
    entry = accrue_for_line(order.lines[0].id, now=at(4, 1))  # the window ends, exclusive
    assert entry and entry.amount_cents == 993  # 12417 × 8% = 993.36


def test_microsoft_365_first_year_upsell_and_renewal(db, network, make_reseller, sell):
    make_reseller(network, code="RP-M365")
    first = sell(network, [("M365-BUSINESS-STD-1Y", 5)], code="RP-M365", email="pme@example.com")
    entry = accrue_for_line(first.lines[0].id, now=at(3, 10))
    # 5 users × 180.00 TTC = 900.00 TTC -> 750.00 HT; 12% + 6% = 18% -> 135.00
    assert (entry.amount_cents, entry.rule, entry.rate) == (13500, "subscription.first_year",
                                                            Decimal("0.18"))

    # Two users added in June: the attached client's order credits the reseller, 18% of 300.00
    added = sell(network, [("M365-BUSINESS-STD-1Y", 2)], email="pme@example.com")
    upsell = accrue_for_line(added.lines[0].id, now=at(6, 15))
    assert (upsell.amount_cents, upsell.rule) == (5400, "subscription.upsell")

    # The seven users renew the next March: 6% of 1 050.00 HT
    renewed = sell(network, [("M365-BUSINESS-STD-1Y", 7)], email="pme@example.com")
    renewal = accrue_for_line(renewed.lines[0].id, now=at(3, 5, year=2027))
    assert (renewal.amount_cents, renewal.rule, renewal.rate) == (6300, "subscription.renewal",
                                                                  Decimal("0.06"))
    assert "6% (renewal 6%)" in renewal.explanation


def test_new_application_while_subscribed_is_an_upsell(db, network, make_reseller, sell):
    make_reseller(network, code="RP-M365")
    sell_and_accrue = [
        (sell(network, [("M365-BUSINESS-STD-1Y", 1)], code="RP-M365"), at(2, 1)),
        (sell(network, [("M365-FAMILY-1Y", 1)], code="RP-M365"), at(5, 1)),
    ]
    entries = [accrue_for_line(o.lines[0].id, now=when) for o, when in sell_and_accrue]
    assert [e.rule for e in entries] == ["subscription.first_year", "subscription.upsell"]
    assert entries[1].amount_cents == 1935  # 129.00 TTC -> 107.50 HT × 18%


def test_explicit_event_wins_over_inference(db, network, make_reseller, sell):
    make_reseller(network, code="RP-M365")
    order = sell(network, [("M365-FAMILY-1Y", 1)], code="RP-M365")
    entry = accrue_for_line(order.lines[0].id, now=at(3, 1), event=SubscriptionEvent.RENEWAL)
    assert (entry.rule, entry.amount_cents) == ("subscription.renewal", 645)  # 10750 × 6%


def test_duplicate_delivery_events_accrue_once(db, network, make_reseller, sell):
    make_reseller(network, code="RP-7K3M")
    order = sell(network, [("OFFICE-HOME-2024-WIN", 1, (ADDON_INSTALL,))], code="RP-7K3M")
    line_id = line_of(order, "OFFICE-HOME-2024-WIN").id
    first = accrue_for_delivery(line_id, now=at(3, 10))
    again = accrue_for_delivery(line_id, now=at(3, 11))
    whole_order = accrue_for_order(order.id, now=at(3, 12))
    assert [e.id for e in first] == [e.id for e in again] == [e.id for e in whole_order]
    assert _count(db, kind=EntryKind.ACCRUAL) == 2


def test_unique_constraint_holds_even_if_the_check_is_skipped(db, network, make_reseller, sell):
    from commissions import services

    make_reseller(network, code="RP-7K3M")
    order = sell(network, [("OFFICE-HOME-2024-WIN", 1)], code="RP-7K3M")
    first = accrue_for_line(order.lines[0].id, now=at(3, 10))
    db.session.commit()  # as the consumer's relay does
    original = services._entry
    try:
        services._entry = lambda *args: None  # the pre-check misses, as in a race
        with pytest.raises(Exception):  # noqa: B017
            accrue_for_line(order.lines[0].id, now=at(3, 11))
    finally:
        services._entry = original
    db.session.rollback()
    assert accrue_for_line(order.lines[0].id, now=at(3, 12)).id == first.id
    assert _count(db, kind=EntryKind.ACCRUAL) == 1


def test_concurrent_deliveries_accrue_once(app, db, postgres_only, network, make_reseller, sell):
    make_reseller(network, code="RP-RACE")
    order = sell(network, [("VISIO-STD-2024", 1)], code="RP-RACE")
    line_id = order.lines[0].id
    db.session.remove()
    threads_n = 8
    barrier = threading.Barrier(threads_n)
    results: list[object] = []
    errors: list[BaseException] = []

    def deliver() -> None:
        with app.app_context():
            try:
                barrier.wait(timeout=PATIENCE)
                entry = accrue_for_line(line_id, now=at(3, 10))
                db.session.commit()  # as the consumer\'s relay does
                results.append(entry.id if entry else None)
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=deliver) for _ in range(threads_n)]
    for thread in threads:
        thread.start()
    join_all(threads)
    assert not errors, errors
    assert len(results) == threads_n and len(set(results)) == 1 and None not in results
    assert _count(db, kind=EntryKind.ACCRUAL) == 1


def test_no_reseller_no_programme_or_unpaid_means_no_entry(db, make_partner, network, catalogue,
                                                          make_reseller, sell):
    plain = sell(network, [("OFFICE-HOME-2024-WIN", 1)])
    assert accrue_for_line(plain.lines[0].id, now=at(3, 1)) is None
    make_reseller(network, code="RP-7K3M")
    unpaid = sell(network, [("OFFICE-HOME-2024-WIN", 1)], code="RP-7K3M", paid=False)
    assert accrue_for_line(unpaid.lines[0].id, now=at(3, 1)) is None
    elsewhere = make_partner(products=list(catalogue.values()))
    make_reseller(elsewhere, code="RP-NOPR")
    no_programme = sell(elsewhere, [("OFFICE-HOME-2024-WIN", 1)], code="RP-NOPR")
    assert accrue_for_line(no_programme.lines[0].id, now=at(3, 1)) is None
    before_programme = sell(network, [("OFFICE-HOME-2024-WIN", 1)], code="RP-7K3M")
    assert accrue_for_line(before_programme.lines[0].id, now=at(12, 1, year=2025)) is None
    assert _count(db) == 0


def test_clawback_reverses_the_accrual_once(db, network, make_reseller, sell):
    reseller = make_reseller(network, code="RP-7K3M")
    order = sell(network, [("OFFICE-HB-2024-WIN", 1, (ADDON_BACKUP,))], code="RP-7K3M")
    line_id = line_of(order, "OFFICE-HB-2024-WIN").id
    accrue_for_delivery(line_id, now=at(3, 2))
    first = clawback_for_refund(line_id, "refunded at the buyer's request", now=at(3, 3))
    again = clawback_for_refund(line_id, "refunded again", now=at(3, 4))
    assert [e.amount_cents for e in first] == [-1993, -248]  # 24917 × 8%; 825 × 30% = 247.5
    assert [e.id for e in first] == [e.id for e in again]
    # Clawed back inside the holding period: the pair nets to zero in every state.
    assert balances(reseller, at(3, 3)) == balances(reseller, at(3, 10))
    assert balances(reseller, at(3, 10)).total == 0
    assert clawback_for_line(line_of(order, "OFFICE-HB-2024-WIN").id, "x").id == first[0].id


def test_refund_after_payout_carries_a_negative_balance(db, network, make_reseller, sell):
    reseller = make_reseller(network, code="RP-7K3M")
    first = sell(network, [("VISIO-STD-2024", 1), ("OFFICE-HB-2024-WIN", 1)], code="RP-7K3M")
    accrue_for_order(first.id, now=at(3, 2))  # 48250 × 10% = 4825; 24917 × 8% = 1993
    [paid] = run_payouts(now=at(3, 5))
    assert paid.amount_cents == 6818

    clawback_for_line(line_of(first, "VISIO-STD-2024").id, "refunded", now=at(3, 10))
    assert balances(reseller, at(3, 11)).payable == -4825
    assert balances(reseller, at(3, 11)).paid == 6818
    assert run_payouts(now=at(3, 11)) == []

    project = sell(network, [("PROJECT-STD-2024", 1)], code="RP-7K3M")
    accrue_for_order(project.id, now=at(3, 12))  # 94083 × 10% = 9408.3 -> 9408
    assert run_payouts(now=at(3, 15)) == []  # 9408 - 4825 = 4583, under the 50.00 minimum
    office = sell(network, [("OFFICE-HB-2024-WIN", 1)], code="RP-7K3M")
    accrue_for_order(office.id, now=at(3, 16))
    [second] = run_payouts(now=at(3, 20))
    assert second.amount_cents == 9408 - 4825 + 1993 == 6576
    assert "clawback" in second.statement_csv and "-48.25" in second.statement_csv
    assert balances(reseller, at(3, 20)) == balances(reseller, at(3, 20)).__class__(
        accrued=0, payable=0, paid=6818 + 6576, minimum_payout=5000)


def test_adjustments_need_a_reason_and_count_at_once(db, network, make_reseller):
    reseller = make_reseller(network, code="RP-ADJ")
    entry = adjust(reseller, 2500, "salon de mars: prime de stand", "operateur@comptoir.example",
                   now=at(3, 1))
    adjust("RP-ADJ", -500, "correction", "operateur@comptoir.example", now=at(3, 1))
    assert entry.kind == EntryKind.ADJUSTMENT and entry.order_line_id is None
    assert balances(reseller, at(3, 1)).payable == 2000
    for amount, reason, actor in ((0, "x", "y"), (100, " ", "y"), (100, "x", "")):
        with pytest.raises(InvalidAdjustment):
            adjust(reseller, amount, reason, actor)


def test_naive_times_are_refused(db, network, make_reseller, sell):
    from datetime import datetime

    make_reseller(network, code="RP-7K3M")
    order = sell(network, [("OFFICE-HOME-2024-WIN", 1)], code="RP-7K3M")
    with pytest.raises(ValueError, match="naive"):
        accrue_for_line(order.lines[0].id, now=datetime(2026, 3, 1))
