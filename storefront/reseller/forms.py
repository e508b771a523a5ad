"""Reseller portal forms (Flask-WTF: CSRF on every POST)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import InputRequired, Regexp


class CodeForm(FlaskForm):
    """A six-digit code from the reseller's authenticator app."""

    code = StringField(_l("Six-digit code"), validators=[
        InputRequired(_l("Enter the code shown by your authenticator app.")),
        Regexp(r"^\s*[0-9]{3}\s?[0-9]{3}\s*$", message=_l("Enter the six digits of the code."))],
        render_kw={"inputmode": "numeric", "maxlength": 7, "size": 8})


class BankDetailsForm(FlaskForm):
    """The account payouts go to, confirmed with the password (and the code, if two-step is on)."""

    holder = StringField(_l("Account holder"), validators=[
        InputRequired(_l("Give the account holder's name, as the bank knows it."))],
        render_kw={"maxlength": 70, "autocomplete": "name"})
    iban = StringField(_l("IBAN"), validators=[InputRequired(_l("Enter the IBAN."))],
                       render_kw={"maxlength": 42, "spellcheck": "false",
                                  "autocapitalize": "characters"})
    bic = StringField(_l("BIC"), validators=[InputRequired(_l("Enter the BIC."))],
                      render_kw={"maxlength": 14, "spellcheck": "false",
                                 "autocapitalize": "characters", "placeholder": "AGRIFRPPXXX"})
    password = PasswordField(_l("Your password"),
                             validators=[InputRequired(_l("Enter your password."))])
    code = StringField(_l("Six-digit code"), render_kw={"inputmode": "numeric", "maxlength": 7,
                                                        "size": 8, "autocomplete": "one-time-code"})
