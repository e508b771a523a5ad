"""Resellers' bank details: checked with schwifty, nothing stored when wrong, audited, masked."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from commissions.bank import check_bank_details, mask_bic, mask_iban, set_bank_details
from commissions.errors import InvalidBankDetails
from commissions.models import BankDetailsChange


def test_a_valid_account_is_normalised():
    details = check_bank_details(" fr76 3000 6000 0112 3456 7890 189 ", "agri frpp",
                                 "  Alice   Martin ")
    assert details.iban == "FR7630006000011234567890189"
    assert details.bic == "AGRIFRPP"
    assert details.holder == "Alice Martin"


@pytest.mark.parametrize(("iban", "bic", "holder", "fields"), [
    ("FR7630006000011234567890188", "AGRIFRPP", "Alice", {"iban"}),  # check digits
    ("FR76300060000112345678901", "AGRIFRPP", "Alice", {"iban"}),  # length
    ("BR1800360305000010009795493C1", "BRASBRRJ", "Alice", {"iban"}),  # outside SEPA
    ("FR7630006000011234567890189", "AGRIFRP", "Alice", {"bic"}),  # length
    ("FR7630006000011234567890189", "COBADEFF", "Alice", {"bic"}),  # another country's bank
    ("FR7630006000011234567890189", "AGRIFRPP", "   ", {"holder"}),
    ("FR7630006000011234567890189", "AGRIFRPP", "A" * 71, {"holder"}),
    ("", "", "", {"iban", "bic", "holder"}),
])
def test_a_wrong_account_is_refused_naming_each_field(app, iban, bic, holder, fields):
    with pytest.raises(InvalidBankDetails) as caught:
        check_bank_details(iban, bic, holder)
    assert set(caught.value.problems) == fields


def test_masks_show_country_check_digits_and_last_four():
    assert mask_iban("FR7630006000011234567890189") == "FR76 **** **** **** **** ***0 189"
    assert mask_iban("DE89370400440532013000") == "DE89 **** **** **** **30 00"
    assert mask_bic("AGRIFRPPXXX") == "AGRIFR*****"
    assert mask_iban(None) == ""


def test_a_change_is_audited_with_masked_ibans(db, network, make_reseller):
    reseller = make_reseller(network, code="RP-BANK")
    set_bank_details(reseller, "FR7630006000011234567890189", "AGRIFRPP", "Alice", actor="test")
    set_bank_details(reseller, "DE89370400440532013000", "COBADEFFXXX", "Alice", actor="cli",
                     source="127.0.0.1")
    changes = db.session.scalars(select(BankDetailsChange).order_by(BankDetailsChange.at)).all()
    assert [c.actor for c in changes] == ["test", "cli"]
    assert changes[1].changes["iban"] == ["FR76 **** **** **** **** ***0 189",
                                          "DE89 **** **** **** **30 00"]
    assert changes[1].changes["bic"] == ["AGRIFRPP", "COBADEFFXXX"]
    assert "7890" not in str([c.changes for c in changes])


def test_cli_sets_bank_details(db, runner, network, make_reseller):
    reseller = make_reseller(network, code="RP-CLIB")
    result = runner.invoke(args=["resellers", "bank-details", "RP-CLIB", "--iban",
                                 "FR76 3000 6000 0112 3456 7890 189", "--bic", "AGRIFRPPXXX",
                                 "--holder", "Alice Martin"])
    assert result.exit_code == 0, result.output
    assert "FR76 **** **** **** **** ***0 189" in result.output
    db.session.refresh(reseller)
    assert (reseller.bank_iban, reseller.bank_bic, reseller.bank_holder) == (
        "FR7630006000011234567890189", "AGRIFRPPXXX", "Alice Martin")


def test_cli_refuses_a_bad_iban_and_stores_nothing(db, runner, network, make_reseller):
    reseller = make_reseller(network, code="RP-CLIX")
    result = runner.invoke(args=["resellers", "bank-details", "RP-CLIX", "--iban",
                                 "FR7630006000011234567890188", "--bic", "NOPE",
                                 "--holder", "Alice"])
    assert result.exit_code != 0
    assert "nothing stored" in result.output
    assert "--iban: This is not a valid IBAN" in result.output
    assert "--bic: This is not a valid BIC" in result.output
    db.session.refresh(reseller)
    assert reseller.bank_iban is None and reseller.bank_details_at is None
    assert db.session.scalars(select(BankDetailsChange)).all() == []
    result = runner.invoke(args=["resellers", "bank-details", "RP-NONE", "--iban", "x", "--bic",
                                 "y", "--holder", "z"])
    assert result.exit_code != 0 and "no reseller 'RP-NONE'" in result.output
