"""SEPA credit-transfer files: one per run, one transfer per payout, valid pain.001.001.03."""

from __future__ import annotations

import os
import threading

import pytest
import xmlschema
from commission_helpers import at
from sqlalchemy import func, select
from support.processes import PATIENCE, join_all

from commissions import accrue_for_order, adjust, run_payouts
from commissions.bank import set_bank_details
from commissions.errors import PayoutFileError
from commissions.models import Payout, PayoutBatch, PayoutStatus, PayoutStatusChange
from commissions.payouts import file_payouts
from commissions.sepa import SCHEMA, transfers_in


def _xsd() -> xmlschema.XMLSchema:
    import sepaxml

    return xmlschema.XMLSchema(os.path.join(os.path.dirname(sepaxml.__file__), "schemas",
                                            f"{SCHEMA}.xsd"))


def test_a_run_files_one_transfer_per_payout_matching_to_the_cent(db, network, make_reseller,
                                                                  sell):
    alice, bruno = make_reseller(network, code="RP-ALIC"), make_reseller(network, code="RP-BRUN")
    set_bank_details(alice, "FR76 3000 6000 0112 3456 7890 189", "agrifrpp", "Alice Martin",
                     actor="test")
    set_bank_details(bruno, "DE89370400440532013000", "COBADEFFXXX", "Bruno Schmidt-Müller",
                     actor="test")
    accrue_for_order(sell(network, [("PROJECT-STD-2024", 1)], code="RP-ALIC").id, now=at(3, 1))
    accrue_for_order(sell(network, [("VISIO-STD-2024", 2)], code="RP-BRUN").id, now=at(3, 1))
    adjust(alice, 1, "arrondi", "operateur", now=at(3, 2))
    payouts = {p.reseller.code: p for p in run_payouts(now=at(3, 3, hour=11))}
    assert {c: p.amount_cents for c, p in payouts.items()} == {"RP-ALIC": 9409, "RP-BRUN": 9650}

    [batch] = db.session.scalars(select(PayoutBatch)).all()
    assert batch.number.startswith("SEPA-2026-") and batch.schema == "pain.001.001.03"
    assert (batch.transfers, batch.total_cents, batch.currency) == (2, 9409 + 9650, "EUR")
    assert batch.execution_date.isoformat() == "2026-03-03"
    assert (batch.debtor_iban, batch.debtor_bic) == ("FR7630006000011234567890189", "AGRIFRPPXXX")
    _xsd().validate(batch.xml.decode())  # raises if the file is not valid pain.001.001.03

    transfers = {t.end_to_end_id: t for t in transfers_in(batch.xml)}
    assert set(transfers) == {p.number for p in payouts.values()}
    for payout in payouts.values():
        t = transfers[payout.number]
        assert (t.amount_cents, t.currency, t.iban, t.bic) == (
            payout.amount_cents, "EUR", payout.reseller.bank_iban, payout.reseller.bank_bic)
        assert payout.number in t.remittance and payout.period in t.remittance
        assert payout.status == PayoutStatus.IN_FILE and payout.iban == t.iban
    assert transfers[payouts["RP-BRUN"].number].name == "Bruno Schmidt-Muller"  # SEPA's letters
    xml = batch.xml.decode()
    assert f"<MsgId>{batch.number}</MsgId>" in xml
    assert "<CtrlSum>190.59</CtrlSum>" in xml and "<NbOfTxs>2</NbOfTxs>" in xml
    assert "<ReqdExctnDt>2026-03-03</ReqdExctnDt>" in xml
    assert "<IBAN>FR7630006000011234567890189</IBAN>" in xml  # the debtor

    history = db.session.scalars(select(PayoutStatusChange.to_status).where(
        PayoutStatusChange.payout_id == payouts["RP-ALIC"].id).order_by(PayoutStatusChange.at,
                                                                          PayoutStatusChange.to_status)).all()
    assert history == ["computed", "in_file"]
    assert run_payouts(now=at(3, 4)) == [] and db.session.scalar(
        select(func.count()).select_from(PayoutBatch)) == 1  # nothing is filed twice


def test_the_statement_names_the_masked_iban_and_the_execution_date(db, network, make_reseller):
    import io

    from pypdf import PdfReader

    alice = make_reseller(network, code="RP-ALIC")
    set_bank_details(alice, "FR7630006000011234567890189", "AGRIFRPP", "Alice Martin",
                     actor="test")
    adjust(alice, 6000, "bonus", "operateur", now=at(3, 1))
    [payout] = run_payouts(now=at(3, 1, hour=11))
    pages = PdfReader(io.BytesIO(payout.statement_pdf)).pages
    text = " ".join(page.extract_text() for page in pages)
    assert "FR76 **** **** **** **** ***0 189" in " ".join(text.split())
    assert "2026-03-01" in text and payout.batch is not None and payout.batch.number in text
    assert "7890" not in text.replace("***0 189", "")


def test_a_reseller_without_bank_details_is_paid_once_they_give_them(db, network, make_reseller):
    chloe = make_reseller(network, code="RP-CHLO")
    adjust(chloe, 6000, "bonus", "operateur", now=at(3, 1))
    [payout] = run_payouts(now=at(3, 1, hour=11))
    assert payout.status == PayoutStatus.AWAITING_BANK_DETAILS and payout.batch is None
    assert db.session.scalar(select(func.count()).select_from(PayoutBatch)) == 0
    assert run_payouts(now=at(3, 1, hour=12)) == []  # not lost, not paid again
    set_bank_details(chloe, "FR1420041010050500013M02606", "PSSTFRPP", "Chloé Bernard",
                     actor="test", now=at(3, 2))
    assert run_payouts(now=at(3, 2, hour=11)) == []
    db.session.refresh(payout)
    assert payout.status == PayoutStatus.IN_FILE and payout.batch is not None
    [transfer] = transfers_in(payout.batch.xml)
    assert (transfer.amount_cents, transfer.iban) == (6000, "FR1420041010050500013M02606")


def test_an_unset_paying_account_fails_the_run_and_the_next_one_files(app, db, network,
                                                                      make_reseller):
    alice = make_reseller(network, code="RP-ALIC")
    set_bank_details(alice, "FR7630006000011234567890189", "AGRIFRPP", "Alice", actor="test")
    adjust(alice, 6000, "bonus", "operateur", now=at(3, 1))
    iban = app.config["PAYOUT_DEBTOR_IBAN"]
    app.config["PAYOUT_DEBTOR_IBAN"] = ""
    try:
        with pytest.raises(PayoutFileError, match="COMPTOIR_PAYOUT_DEBTOR_IBAN"):
            run_payouts(now=at(3, 1, hour=11))
    finally:
        app.config["PAYOUT_DEBTOR_IBAN"] = iban
    [payout] = db.session.scalars(select(Payout)).all()
    assert payout.status == PayoutStatus.COMPUTED  # made, kept, not filed
    [batch] = file_payouts(now=at(3, 1, hour=12))
    assert [t.end_to_end_id for t in transfers_in(batch.xml)] == [payout.number]


def test_payouts_sepa_command_writes_the_file_by_number_or_day(db, runner, network,
                                                               make_reseller, tmp_path):
    alice = make_reseller(network, code="RP-ALIC")
    set_bank_details(alice, "FR7630006000011234567890189", "AGRIFRPP", "Alice", actor="test")
    adjust(alice, 6000, "bonus", "operateur", now=at(3, 1))
    run_payouts(now=at(3, 1, hour=11))
    batch = db.session.scalars(select(PayoutBatch)).one()
    for reference in (batch.number, "2026-03-01"):
        out = tmp_path / f"{reference}.xml"
        result = runner.invoke(args=["payouts", "sepa", reference, "--output", str(out)])
        assert result.exit_code == 0, result.output
        assert out.read_bytes() == batch.xml and "1 transfer(s), 60.00 EUR" in result.output
    result = runner.invoke(args=["payouts", "sepa", "2026-03-02", "--output",
                                 str(tmp_path / "none.xml")])
    assert result.exit_code != 0 and "no payout file '2026-03-02'" in result.output
    assert not (tmp_path / "none.xml").exists()


def test_concurrent_runs_pay_and_file_each_payout_once(app, db, postgres_only, network,
                                                       make_reseller, sell):
    for code in ("RP-RAC1", "RP-RAC2", "RP-RAC3"):
        reseller = make_reseller(network, code=code)
        set_bank_details(reseller, "FR7630006000011234567890189", "AGRIFRPP", code,
                         actor="test")
        for _ in range(2):
            accrue_for_order(sell(network, [("VISIO-STD-2024", 1)], code=code).id, now=at(3, 2))
            db.session.commit()
    db.session.remove()
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def run() -> None:
        with app.app_context():
            try:
                barrier.wait(timeout=PATIENCE)
                run_payouts(now=at(3, 5))
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    join_all(threads)
    assert not errors, errors
    payouts = db.session.scalars(select(Payout)).all()
    assert sorted(p.reseller.code for p in payouts) == ["RP-RAC1", "RP-RAC2", "RP-RAC3"]
    file_payouts(now=at(3, 5, hour=11))  # whatever a losing run left unfiled
    filed = [t for b in db.session.scalars(select(PayoutBatch)) for t in transfers_in(b.xml)]
    assert sorted(t.end_to_end_id for t in filed) == sorted(p.number for p in payouts)
    assert sum(t.amount_cents for t in filed) == 6 * 4825
