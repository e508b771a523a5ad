"""Monthly statements made once per account and month, e-mailed once; extras; the back office."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from celery.schedules import crontab
from sqlalchemy import func, select
from test_credit_orders import command

from commerce.models import CapturedMail, PaymentStatus
from credit.accounts import add_extra, firm_oem_cents, set_line, standing
from credit.models import CreditAccount, CreditChange, CreditStatement
from credit.orders import buy_on_account
from credit.payments import record_transfer
from extensions import celery
from fulfilment.models import OutgoingEmail

NOV_10 = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
DEC_1 = "2026-12-01T06:00:00+00:00"


def rows(db, model) -> int:  # type: ignore[no-untyped-def]
    db.session.expire_all()
    return int(db.session.scalar(select(func.count()).select_from(model)))


def test_the_monthly_statement_is_made_and_emailed_once(runner, db, world):
    account = set_line(world.a, limit_cents=100000, actor="test")
    set_line(world.b, limit_cents=100000, actor="test")  # no activity: no statement
    db.session.commit()
    buy_on_account(world.a, command(), NOV_10)
    record_transfer(account.reference, "VIR-1120", 5000, date(2026, 11, 20), "test",
                    datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
    # Booked in Paris on 1 December (00:30 local): the December statement's, not November's.
    buy_on_account(world.a, command(), datetime(2026, 11, 30, 23, 30, tzinfo=UTC))
    result = runner.invoke(args=["credit", "statements", "--month", "2026-11", "--now", DEC_1])
    assert result.exit_code == 0, result.output
    assert "RL-RP-AAAA-2026-11" in result.output and "made, sent" in result.output
    assert "1 statement(s)" in result.output
    statement = db.session.scalar(select(CreditStatement))
    assert (statement.opening_cents, statement.charges_cents, statement.credits_cents,
            statement.closing_cents, statement.overdue_cents) == (0, 14900, 5000, 9900, 0)
    lines = statement.csv.splitlines()
    assert lines[0] == "booked_at,kind,description,amount,currency,due_on"
    assert any(",charge," in line and ",149.00,EUR,2026-12-30" in line for line in lines)
    assert any(",payment," in line and ",-50.00,EUR," in line for line in lines)
    assert lines[-1] == ",due,,99.00,EUR,2026-12-30"
    assert "FR7630006000011234567890189" in statement.html and "RF" in statement.html
    mails = db.session.scalars(select(CapturedMail)).all()
    assert [m.to for m in mails if "RL-RP-AAAA-2026-11" in m.subject] == ["a@dupont.example"]
    assert db.session.scalar(select(OutgoingEmail.key)) == f"credit-statement:{statement.id}"
    again = runner.invoke(args=["credit", "statements", "--month", "2026-11", "--now", DEC_1])
    assert "existed, already_sent" in again.output
    assert rows(db, CreditStatement) == 1
    assert rows(db, CapturedMail) == len(mails)


def test_a_month_not_over_has_no_statement_yet(runner, db, world):
    set_line(world.a, limit_cents=100000, actor="test")
    db.session.commit()
    buy_on_account(world.a, command(), NOV_10)
    result = runner.invoke(args=["credit", "statements", "--month", "2026-11",
                                 "--now", "2026-11-30T22:59:00+00:00"])  # 23:59 in Paris
    assert result.exit_code != 0 and "is not over yet" in result.output
    assert rows(db, CreditStatement) == 0
    bad = runner.invoke(args=["credit", "statements", "--month", "2026-13"])
    assert bad.exit_code != 0 and "YYYY-MM" in bad.output


def test_the_statements_run_on_the_first_of_each_month(app):
    entry = celery.conf.beat_schedule["credit-monthly-statements"]
    assert entry["task"] == "comptoir.credit.monthly_statements"
    assert entry["schedule"] == crontab(minute=0, hour=6, day_of_month=1)


def test_an_overdue_balance_shows_on_the_statement_and_in_the_back_office(
    runner, client, db, world, sign_in_operator
):
    set_line(world.a, limit_cents=100000, actor="test")
    db.session.commit()
    buy_on_account(world.a, command(), datetime(2026, 10, 5, 9, 0, tzinfo=UTC))  # due 30 Nov
    runner.invoke(args=["credit", "statements", "--month", "2026-11", "--now", DEC_1])
    statement = db.session.scalar(select(CreditStatement))
    assert statement.overdue_cents == 14900 and statement.opening_cents == 14900
    sign_in_operator(client)
    page = client.get("/admin/credit?overdue=1&lang=en").get_data(as_text=True)
    assert 'data-overdue="RP-AAAA"' in page and "€149.00" in page
    listed = runner.invoke(args=["credit", "accounts", "--overdue"])
    assert "RP-AAAA" in listed.output


def test_a_wholesaler_programme_adds_credit_while_the_network_buys_from_it(db, world):
    account = set_line(world.a, limit_cents=10000, actor="test")
    start = NOV_10 - timedelta(days=1)
    add_extra(account, kind="wholesaler", amount_cents=500000, wholesaler_code="nexway",
              starts_at=start, ends_at=None, actor="test", label="Nexway encours +5 000 €")
    add_extra(account, kind="wholesaler", amount_cents=500000, wholesaler_code="arvato",
              starts_at=start, ends_at=None, actor="test")
    db.session.commit()
    now = standing(account, NOV_10)
    assert now.extras_cents == 500000 and now.available_cents == 510000
    assert [v.amount_cents for v in now.extras] == [500000, 0]
    assert "now buys from nexway" in now.extras[1].why
    assert standing(account, start - timedelta(seconds=1)).extras_cents == 0
    # The extra lets an order over the limit alone through.
    order = buy_on_account(world.a, command(quantity=3), NOV_10)
    assert order.total_cents == 44700


def test_an_oem_volume_extra_counts_the_resellers_firm_oem_orders_in_its_window(
    db, world, make_partner, catalogue, sell
):
    make_partner(slug="pc-maker", kind="oem", products=[catalogue["OFFICE-HOME-2024-WIN"]])
    account = set_line(world.a, limit_cents=0, actor="test")
    window = datetime(2026, 11, 1, tzinfo=UTC)
    add_extra(account, kind="oem_volume", amount_cents=500000, step_cents=100000,
              starts_at=window, ends_at=window + timedelta(days=30), actor="test")
    db.session.commit()
    # Visio is no OEM product; an order before the window and another reseller's do not count.
    sell(world.n, [("VISIO-STD-2024", 2)], "v@example.com", code="RP-AAAA", paid_at=NOV_10)
    sell(world.n, [("OFFICE-HOME-2024-WIN", 9)], "old@example.com", code="RP-AAAA",
         paid_at=window - timedelta(days=1))
    sell(world.n, [("OFFICE-HOME-2024-WIN", 9)], "b@example.com", code="RP-BBBB",
         paid_at=NOV_10)
    assert standing(account, NOV_10 + timedelta(hours=1)).extras_cents == 0
    firm = sell(world.n, [("OFFICE-HOME-2024-WIN", 9)], "c@example.com", code="RP-AAAA",
                paid_at=NOV_10)
    later = NOV_10 + timedelta(hours=1)
    assert firm_oem_cents(world.a, window, later) == 9 * 14900 - firm.vat_cents  # 1,117.50 HT
    assert standing(account, later).extras_cents == 500000  # one step of 1,000.00
    firm.payment_status = PaymentStatus.DISPUTED  # no longer firm
    db.session.commit()
    assert standing(account, later).extras_cents == 0
    assert standing(account, window + timedelta(days=31)).extras == []  # the window is over


def test_the_operator_sets_a_limit_and_extras_audited(client, db, world, sign_in_operator,
                                                      form_token):
    sign_in_operator(client)
    token = form_token("/admin/credit/RP-AAAA?lang=en")
    saved = client.post("/admin/credit/RP-AAAA/line", data={
        "csrf_token": token, "limit": "2 500,00", "term_days": "45", "active": "y",
        "reason": "signed agreement"})
    assert saved.status_code == 302
    account = db.session.scalar(select(CreditAccount))
    assert (account.limit_cents, account.term_days) == (250000, 45)
    changes = db.session.scalars(select(CreditChange).order_by(CreditChange.action)).all()
    assert [c.action for c in changes] == ["open", "update"]
    assert changes[1].changes["limit_cents"] == [0, 250000]
    assert changes[1].actor == "operator:op@comptoir.example"
    refused = client.post("/admin/credit/RP-AAAA/line", data={
        "csrf_token": token, "limit": "lots", "term_days": "30", "active": "y"})
    assert refused.status_code == 400
    assert "Enter an amount in euros" in refused.get_data(as_text=True)
    too_long = client.post("/admin/credit/RP-AAAA/line", data={
        "csrf_token": token, "limit": "100", "term_days": "90", "active": "y"})
    assert too_long.status_code == 400
    db.session.expire_all()
    assert db.session.scalar(select(CreditAccount.limit_cents)) == 250000
    extra = client.post("/admin/credit/RP-AAAA/extras", data={
        "csrf_token": token, "kind": "wholesaler", "amount": "5000", "wholesaler": "nexway",
        "starts_on": "2026-11-01", "label": "Programme Nexway"})
    assert extra.status_code == 302
    assert rows(db, CreditChange) == 3
    transfer = {"csrf_token": token, "bank_reference": "VIR-BO-1", "amount": "12.50",
                "received_on": "2026-12-02"}
    assert client.post("/admin/credit/RP-AAAA/transfers", data=transfer).status_code == 302
    assert client.post("/admin/credit/RP-AAAA/transfers", data=transfer).status_code == 302
    page = client.get("/admin/credit/RP-AAAA?lang=en").get_data(as_text=True)
    assert page.count("VIR-BO-1") == 2  # one payment (its line and its entry), not two
    assert "Programme Nexway" in page


def test_a_reseller_downloads_its_own_statements_only(runner, client, db, world, sign_in):
    set_line(world.a, limit_cents=100000, actor="test")
    db.session.commit()
    buy_on_account(world.a, command(), NOV_10)
    runner.invoke(args=["credit", "statements", "--month", "2026-11", "--now", DEC_1])
    statement = db.session.scalar(select(CreditStatement))
    sign_in("reseau-n", "a@dupont.example")
    page = client.get("/p/reseau-n/reseller/credit").get_data(as_text=True)
    assert f"/reseller/credit/statements/{statement.id}.csv" in page
    csv_file = client.get(f"/p/reseau-n/reseller/credit/statements/{statement.id}.csv")
    assert csv_file.status_code == 200 and csv_file.mimetype == "text/csv"
    assert csv_file.get_data(as_text=True) == statement.csv
    html = client.get(f"/p/reseau-n/reseller/credit/statements/{statement.id}.html")
    assert "RL-RP-AAAA-2026-11" in html.get_data(as_text=True)
    assert client.get(f"/p/reseau-n/reseller/credit/statements/{statement.id}.pdf"
                      ).status_code == 404
    other = client.application.test_client()
    token = other.get("/p/reseau-n/reseller/signin").get_data(as_text=True)
    other.post("/p/reseau-n/reseller/signin", data={
        "csrf_token": re.search(r'name="csrf_token"[^>]*value="([^"]+)"', token).group(1),
        "email": "b@marais.example", "password": "reseller password 2026"})
    assert other.get(f"/p/reseau-n/reseller/credit/statements/{statement.id}.csv"
                     ).status_code == 404
