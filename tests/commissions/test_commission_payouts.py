"""Payout runs: holding period, minimum, one payout per reseller, statements, no double pay."""

from __future__ import annotations

import csv
import io
import threading

from commission_helpers import at
from sqlalchemy import func, select
from support.processes import PATIENCE, join_all

from commissions import accrue_for_order, adjust, balances, run_payouts
from commissions.models import LedgerEntry, Payout


def test_entries_wait_for_the_holding_period(db, network, make_reseller, sell):
    reseller = make_reseller(network, code="RP-HOLD")
    order = sell(network, [("VISIO-STD-2024", 1), ("OFFICE-HB-2024-WIN", 1)], code="RP-HOLD")
    accrue_for_order(order.id, now=at(3, 2))
    assert balances(reseller, at(3, 3)).accrued == 6818
    assert run_payouts(now=at(3, 4, hour=9)) == []  # 47 hours later
    [payout] = run_payouts(now=at(3, 4))  # 48 hours later
    assert (payout.amount_cents, payout.reseller_id, payout.period) == (
        6818, reseller.id, "2026-03-02/2026-03-04")
    assert payout.number.startswith("PO-2026-")
    assert run_payouts(now=at(3, 20)) == []  # paid entries are never paid again
    unpaid = db.session.scalar(select(func.count()).select_from(LedgerEntry)
                               .where(LedgerEntry.payout_id.is_(None)))
    assert unpaid == 0
    assert balances(reseller, at(3, 20)).paid == 6818


def test_payable_balance_under_the_minimum_waits(db, network, make_reseller, sell):
    reseller = make_reseller(network, code="RP-MINI")
    accrue_for_order(sell(network, [("VISIO-STD-2024", 1)], code="RP-MINI").id, now=at(3, 2))
    assert balances(reseller, at(3, 10)).payable == 4825
    assert balances(reseller, at(3, 10)).next_payout == 0
    assert run_payouts(now=at(3, 10)) == []
    adjust(reseller, 175, "geste commercial", "operateur", now=at(3, 10))
    assert balances(reseller, at(3, 10)).next_payout == 5000
    [payout] = run_payouts(now=at(3, 10))
    assert payout.amount_cents == 5000


def test_one_payout_per_reseller_with_statements(db, network, make_reseller, sell):
    alice, bob = make_reseller(network, code="RP-ALIC"), make_reseller(network, code="RP-BOBB")
    for code in ("RP-ALIC", "RP-ALIC", "RP-BOBB"):
        accrue_for_order(sell(network, [("VISIO-STD-2024", 1)], code=code).id, now=at(3, 2))
    payouts = {p.reseller_id: p for p in run_payouts(now=at(3, 5))}
    assert {k: p.amount_cents for k, p in payouts.items()} == {alice.id: 9650}
    statement = list(csv.DictReader(io.StringIO(payouts[alice.id].statement_csv)))
    assert [(r["kind"], r["amount"], r["rule"], r["state"]) for r in statement] == [
        ("accrual", "48.25", "perpetual.visio", "paid")] * 2
    assert payouts[alice.id].statement_pdf.startswith(b"%PDF")
    assert db.session.scalar(select(func.count()).select_from(Payout)) == 1
    assert balances(bob, at(3, 5)).payable == 4825


def test_concurrent_payout_runs_pay_once(app, db, postgres_only, network, make_reseller, sell):
    make_reseller(network, code="RP-RACE")
    for _ in range(3):
        accrue_for_order(sell(network, [("VISIO-STD-2024", 1)], code="RP-RACE").id, now=at(3, 2))
        db.session.commit()
    db.session.remove()
    barrier = threading.Barrier(4)
    made: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        with app.app_context():
            try:
                barrier.wait(timeout=PATIENCE)
                made.append(len(run_payouts(now=at(3, 5))))
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    join_all(threads)
    assert not errors, errors
    assert sum(made) == 1
    assert db.session.scalar(select(func.sum(Payout.amount_cents))) == 3 * 4825


def test_csv_cells_cannot_become_formulas(db, network, make_reseller):
    reseller = make_reseller(network, code="RP-CSVX")
    adjust(reseller, 6000, "=HYPERLINK(\"http://evil.example\")", "operateur", now=at(3, 1))
    [payout] = run_payouts(now=at(3, 1))
    [row] = list(csv.DictReader(io.StringIO(payout.statement_csv)))
    assert row["reason"].startswith("'=")
