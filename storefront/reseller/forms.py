"""Reseller portal forms (Flask-WTF: CSRF on every POST)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange, Regexp


class CodeForm(FlaskForm):
    """A six-digit code from the reseller's authenticator app."""

    code = StringField(_l("Six-digit code"), validators=[
        InputRequired(_l("Enter the code shown by your authenticator app.")),
        Regexp(r"^\s*[0-9]{3}\s?[0-9]{3}\s*$", message=_l("Enter the six digits of the code."))],
        render_kw={"inputmode": "numeric", "maxlength": 7, "size": 8})


class SubscriptionChangeForm(FlaskForm):
    """Users or an application to add to a client's subscription, for the client to approve."""

    product = SelectField(_l("Plan"), validators=[InputRequired(_l("Choose a plan."))])
    seats = IntegerField(_l("Users to add"), validators=[
        InputRequired(_l("Enter how many users to add.")),
        NumberRange(min=1, max=300, message=_l("Add between 1 and 300 users."))])
    note = StringField(_l("Note for the client (optional)"), validators=[Length(max=500)])


class LanguageForm(FlaskForm):
    """The language of the portal and of the weekly digest."""

    locale = SelectField(_l("Language"), choices=[SelectChoice("fr", "Français"),
                                                  SelectChoice("en", "English")],
                         validators=[InputRequired(_l("Choose a language."))])


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
