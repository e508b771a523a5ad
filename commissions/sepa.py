"""SEPA credit-transfer files (pain.001.001.03) of payout runs, built and validated by sepaxml.

The only module that calls sepaxml. One file per run and currency holds one transfer per
payout: the payout number is the end-to-end id, the remittance information names the payout,
the network and the period. sepaxml checks the file against the XSD it ships before it is kept.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask import current_app
from sepaxml import SepaTransfer
from sepaxml.validation import ValidationError

from commissions.bank import BankDetails, check_bank_details
from commissions.errors import InvalidBankDetails, PayoutFileError
from commissions.models import Payout

SCHEMA = "pain.001.001.03"
DEBTOR_SETTINGS = ("PAYOUT_DEBTOR_NAME", "PAYOUT_DEBTOR_IBAN", "PAYOUT_DEBTOR_BIC")
NAMESPACE = f"urn:iso:std:iso:20022:tech:xsd:{SCHEMA}"


def debtor_account(config: Any = None) -> BankDetails:
    """The platform's paying account from the settings; PayoutFileError if unset or invalid."""
    cfg = config if config is not None else current_app.config
    missing = [f"COMPTOIR_{name}" for name in DEBTOR_SETTINGS if not cfg.get(name)]
    if missing:
        raise PayoutFileError(f"the paying account is not set: {', '.join(missing)}")
    try:
        return check_bank_details(str(cfg["PAYOUT_DEBTOR_IBAN"]), str(cfg["PAYOUT_DEBTOR_BIC"]),
                                  str(cfg["PAYOUT_DEBTOR_NAME"]))
    except InvalidBankDetails as exc:
        named = ", ".join(f"COMPTOIR_PAYOUT_DEBTOR_{f.upper().replace('HOLDER', 'NAME')}"
                          for f in exc.problems)
        raise PayoutFileError(f"the paying account is not valid: {named}") from exc


@dataclass(frozen=True)
class Transfer:
    """One credit transfer of a file, as the file says it (for checks and tests)."""

    end_to_end_id: str
    amount_cents: int
    currency: str
    iban: str
    bic: str | None
    name: str
    remittance: str


def remittance(payout: Payout) -> str:
    """The unstructured remittance information (140 characters at most)."""
    return f"Commissions {payout.number} {payout.reseller.code} {payout.period}"[:140]


def credit_transfer_file(number: str, created_at: datetime, execution_date: date,
                         currency: str, debtor: BankDetails, payouts: list[Payout]) -> bytes:
    """A pain.001 file paying each filed payout from the debtor account; validated by sepaxml."""
    sepa = SepaTransfer({"name": debtor.holder, "IBAN": debtor.iban, "BIC": debtor.bic,
                         "batch": True, "currency": currency}, schema=SCHEMA)
    header = sepa._xml.find("CstmrCdtTrfInitn/GrpHdr")
    # The run's own number and time, not sepaxml's random id and the machine's local clock.
    header.find("MsgId").text = number
    header.find("CreDtTm").text = created_at.strftime("%Y-%m-%dT%H:%M:%S")
    for payout in payouts:
        assert payout.iban and payout.holder
        payment = {"name": payout.holder, "IBAN": payout.iban, "amount": payout.amount_cents,
                   "currency": payout.currency, "execution_date": execution_date,
                   "description": remittance(payout), "endtoend_id": payout.number}
        if payout.bic:
            payment["BIC"] = payout.bic
        sepa.add_payment(payment)
    try:
        return bytes(sepa.export(validate=True))
    except ValidationError as exc:
        raise PayoutFileError(f"the credit-transfer file {number} does not validate against "
                              f"{SCHEMA}: {exc.__cause__}") from exc


def transfers_in(xml: bytes) -> list[Transfer]:
    """Read back the transfers a pain.001 file holds."""
    ns = {"p": NAMESPACE}
    root = ET.fromstring(xml)  # noqa: S314 - our own file, built and validated above
    found = []
    for tx in root.iterfind(".//p:CdtTrfTxInf", ns):
        amount = tx.find("p:Amt/p:InstdAmt", ns)
        assert amount is not None and amount.text
        euros, _, cents = amount.text.partition(".")
        found.append(Transfer(
            end_to_end_id=tx.findtext("p:PmtId/p:EndToEndId", "", ns),
            amount_cents=int(euros) * 100 + int((cents + "00")[:2]),
            currency=amount.get("Ccy", ""),
            iban=tx.findtext("p:CdtrAcct/p:Id/p:IBAN", "", ns),
            bic=tx.findtext("p:CdtrAgt/p:FinInstnId/p:BIC", None, ns),
            name=tx.findtext("p:Cdtr/p:Nm", "", ns),
            remittance=tx.findtext("p:RmtInf/p:Ustrd", "", ns),
        ))
    return found
