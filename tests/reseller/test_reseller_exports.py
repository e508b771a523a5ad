"""The commissions CSV for accounting and the weekly alerts digest."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import select

from commerce.models import CapturedMail, utcnow
from commerce.orders import ADDON_BACKUP
from commissions import adjust
from fulfilment.emails import send_due
from fulfilment.models import OutgoingEmail
from reseller.digest import iso_week, send_digests


def test_commissions_csv_is_a_download_of_the_resellers_own_ledger(client, world, sell, deliver,
                                                                   sign_in):
    now = utcnow()
    office = sell(world.n, [("OFFICE-HOME-2024-WIN", 1)], "ines@example.com", code="RP-AAAA",
                  paid_at=now - timedelta(days=10))
    deliver(office, now - timedelta(days=10))
    theirs = sell(world.n, [("VISIO-STD-2024", 1)], "zoe@example.com", code="RP-BBBB")
    deliver(theirs)
    adjust(world.a, -1500, "=HYPERLINK(\"http://evil\")", actor="operator",
           now=now - timedelta(days=1))

    sign_in("reseau-n", "a@dupont.example")
    response = client.get("/p/reseau-n/reseller/commissions.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    disposition = response.headers["Content-Disposition"]
    assert disposition == (f'attachment; filename="commissions-RP-AAAA-'
                           f'{now.date().isoformat()}.csv"')
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(r["kind"], r["order_number"], r["amount"], r["state"]) for r in rows] == [
        ("accrual", office.number, "9.93", "payable"),
        ("adjustment", "", "-15.00", "payable"),
    ]
    assert rows[1]["reason"].startswith("'=")  # defused for spreadsheets
    assert theirs.number not in response.get_data(as_text=True)


def test_commissions_page_lists_the_entries_with_their_explanation(client, world, sell, deliver,
                                                                   sign_in):
    order = sell(world.n, [("OFFICE-HOME-2024-WIN", 1)], "ines@example.com", code="RP-AAAA")
    deliver(order)
    sign_in("reseau-n", "a@dupont.example")
    html = client.get("/p/reseau-n/reseller/commissions").get_data(as_text=True)
    assert order.number in html and "€9.93" in html
    assert "124.17 EUR net (VAT excluded) × 8%" in html
    assert "Download for accounting (CSV)" in html


@pytest.fixture
def alerting(world, sell, deliver):  # type: ignore[no-untyped-def]
    """A has a subscription ending within 30 days; B and C have nothing to be told."""
    now = utcnow()
    order = sell(world.n, [("M365-BUSINESS-STD-1Y", 1, (ADDON_BACKUP,))], "ines@example.com",
                 "Inès Roy", code="RP-AAAA", paid_at=now - timedelta(days=355))
    deliver(order, now - timedelta(days=355))
    return order


def test_the_digest_goes_out_once_per_reseller_and_iso_week(runner, world, alerting, db):
    result = runner.invoke(args=["resellers", "digest", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "RP-AAAA" in result.output and "would_send" in result.output
    assert "1 digest(s) would be sent" in result.output
    assert db.session.scalars(select(CapturedMail)).all() == []

    result = runner.invoke(args=["resellers", "digest"])
    assert result.exit_code == 0, result.output
    assert "1 digest(s) sent" in result.output
    mail = db.session.scalars(select(CapturedMail)).one()
    assert mail.to == "a@dupont.example"
    assert alerting.number in mail.text_body and "Microsoft 365 Business Standard" in mail.text_body
    assert ".example:5000/reseller/" in mail.text_body  # the partner's own domain

    again = runner.invoke(args=["resellers", "digest"])
    assert "already_sent" in again.output and "0 digest(s) sent" in again.output
    assert len(db.session.scalars(select(CapturedMail)).all()) == 1
    key = f"reseller-digest:RP-AAAA:{iso_week(utcnow())}"
    assert db.session.scalar(select(OutgoingEmail.status).where(OutgoingEmail.key == key)) == "sent"
    # The delivery e-mail queue never picks the digest's row up.
    send_due(utcnow() + timedelta(hours=1))
    assert len(db.session.scalars(select(CapturedMail).where(
        CapturedMail.to == "a@dupont.example")).all()) == 1


def test_the_next_week_brings_a_new_digest(world, alerting, db):
    now = utcnow()
    assert [o.outcome for o in send_digests(now)] == ["sent", "no_alerts", "no_alerts"]
    assert [o.outcome for o in send_digests(now)] == ["already_sent", "no_alerts", "no_alerts"]
    assert [o.outcome for o in send_digests(now + timedelta(days=7))][0] == "sent"
    assert len(db.session.scalars(select(CapturedMail)).all()) == 2


def test_a_failed_digest_is_retried_by_the_next_run(world, alerting, db, app):
    app.config["MAIL_BACKEND"] = "smtp"
    app.config["SMTP_PORT"] = 9  # nothing listens: the send fails
    assert send_digests()[0].outcome == "failed"
    assert db.session.scalars(select(OutgoingEmail).where(
        OutgoingEmail.kind == "reseller_digest")).all() == []
    app.config["MAIL_BACKEND"] = "capture"
    assert send_digests()[0].outcome == "sent"


def test_the_digest_job_is_scheduled(app):
    from extensions import celery

    entry = celery.conf.beat_schedule["resellers-weekly-digest"]
    assert entry["task"] == "comptoir.resellers.weekly_digest"
