"""Resellers' bank details: validated with schwifty, audited, masked wherever they are shown.

A payout goes by SEPA credit transfer, so the account must be an IBAN of the SEPA zone, with
a BIC of the same country and the holder's name as the bank knows it (70 characters at most,
SEPA's limit). Nothing is stored unless all three are valid.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

from commissions.errors import InvalidBankDetails
from commissions.models import BankDetailsChange, Reseller
from commissions.programmes import now_or
from extensions import ACTOR_LENGTH, db

log = logging.getLogger("comptoir.commissions")

HOLDER_LENGTH = 70


@dataclass(frozen=True)
class BankDetails:
    """A checked account: compact IBAN, upper-case BIC (8 or 11 characters), holder's name."""

    iban: str
    bic: str
    holder: str


def check_bank_details(iban: str, bic: str, holder: str) -> BankDetails:
    """Validate and normalise an account; InvalidBankDetails names each field that is wrong."""
    problems: dict[str, str] = {}
    checked_iban = checked_bic = None
    try:
        checked_iban = IBAN(iban or "")
    except SchwiftyException:
        problems["iban"] = _l("This is not a valid IBAN: check its length and its check digits.")
    else:
        if not checked_iban.in_sepa_zone:
            problems["iban"] = _l("This IBAN is from %(country)s, outside the SEPA zone: payouts "
                                  "go by SEPA credit transfer.", country=checked_iban.country_code)
    try:
        checked_bic = BIC((bic or "").replace(" ", ""))
    except SchwiftyException:
        problems["bic"] = _l("This is not a valid BIC: 8 or 11 letters and digits, such as "
                             "AGRIFRPP or AGRIFRPPXXX.")
    if (checked_iban is not None and checked_bic is not None and "iban" not in problems
            and checked_bic.country_code != checked_iban.country_code):
        problems["bic"] = _l("This BIC is from %(bic)s but the IBAN from %(iban)s: check both.",
                             bic=checked_bic.country_code, iban=checked_iban.country_code)
    name = " ".join((holder or "").split())
    if not name:
        problems["holder"] = _l("Give the account holder's name, as the bank knows it.")
    elif len(name) > HOLDER_LENGTH:
        problems["holder"] = _l("The account holder's name is longer than %(max)d characters.",
                                max=HOLDER_LENGTH)
    if problems:
        raise InvalidBankDetails(problems)
    assert checked_iban is not None and checked_bic is not None
    return BankDetails(checked_iban.compact, str(checked_bic.compact), name)


def mask_iban(iban: str | None) -> str:
    """An IBAN with only its country, check digits and last four characters shown, grouped."""
    if not iban:
        return ""
    compact = iban.replace(" ", "").upper()
    shown = compact[:4] + "*" * max(len(compact) - 8, 0) + compact[-4:]
    return " ".join(shown[i:i + 4] for i in range(0, len(shown), 4))


def mask_bic(bic: str | None) -> str:
    """A BIC keeps its bank and country (public), hides the location and branch."""
    return (bic[:6] + "*" * (len(bic) - 6)) if bic else ""


def set_bank_details(reseller: Reseller, iban: str, bic: str, holder: str, actor: str,
                     source: str | None = None, now: datetime | None = None) -> BankDetails:
    """Check, store and audit a reseller's account, commit, then tell the reseller by e-mail."""
    details = check_bank_details(iban, bic, holder)
    now = now_or(now)
    before = (reseller.bank_iban, reseller.bank_bic, reseller.bank_holder)
    changes = {
        "iban": [mask_iban(before[0]) or None, mask_iban(details.iban)],
        "bic": [before[1], details.bic],
        "holder": [before[2], details.holder],
    }
    reseller.bank_iban, reseller.bank_bic, reseller.bank_holder = (
        details.iban, details.bic, details.holder)
    reseller.bank_details_at = now
    db.session.add(BankDetailsChange(reseller_id=reseller.id, actor=actor[:ACTOR_LENGTH],
                                     source=(source or None) and source[:64], changes=changes,
                                     at=now))
    db.session.commit()
    log.info("reseller %s bank details changed by %s from %s: IBAN %s", reseller.code, actor,
             source or "-", changes["iban"][1])
    _notify(reseller, details)
    return details


def _notify(reseller: Reseller, details: BankDetails) -> None:
    """Tell the reseller, at the address the network knows, that their payout account changed."""
    from fulfilment.mail import Mail, send_mail

    if not reseller.email:
        return
    partner = reseller.partner
    with force_locale(reseller.locale or current_app.config["DEFAULT_LOCALE"]):
        context = {"reseller": reseller, "partner": partner, "iban": mask_iban(details.iban),
                   "holder": details.holder}
        subject = _("Your bank details for payouts were changed")
        text = render_template("reseller/emails/bank_details.txt", **context)
    try:
        send_mail(Mail(to=reseller.email, subject=f"{partner.name} · {subject}", text=text,
                       reply_to=partner.support_email or None), after_commit=True)
    except Exception:  # the change is made and audited; a lost notice must not undo it
        log.exception("reseller %s: the bank details notice could not be sent", reseller.code)
