"""Reseller portal forms (Flask-WTF: CSRF on every POST)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Email, InputRequired, Length, NumberRange, Optional, Regexp


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


class CreditOrderForm(FlaskForm):
    """The client an order on account is for, and what they agreed to."""

    email = EmailField(_l("Client's e-mail address"), validators=[
        InputRequired(_l("Enter your client's e-mail address.")),
        Email(_l("Enter a valid e-mail address.")), Length(max=254)])
    name = StringField(_l("Client's full name"), validators=[
        InputRequired(_l("Enter your client's name.")), Length(max=120)])
    company = StringField(_l("Company (optional)"), validators=[Optional(), Length(max=160)])
    vat_number = StringField(_l("VAT number (optional)"), validators=[
        Optional(), Length(max=24, message=_l("Enter a VAT number like FR40303265045."))])
    billing_line1 = StringField(_l("Address"), validators=[Optional(), Length(max=200)])
    billing_postcode = StringField(_l("Postcode"), validators=[Optional(), Length(max=16)])
    billing_city = StringField(_l("City"), validators=[Optional(), Length(max=100)])
    billing_country = SelectField(_l("Billing country"), default="FR",
                                  validators=[InputRequired()])
    terms_version = HiddenField()
    agreed = BooleanField(validators=[InputRequired(_l(
        "Confirm that your client accepted the terms of sale and asked for immediate delivery."
    ))])


class CreditPayForm(FlaskForm):
    """How much of the balance to pay by card now."""

    amount = StringField(_l("Amount to pay (€)"), validators=[
        InputRequired(_l("Enter the amount to pay.")),
        Regexp(r"^\s*\d{1,9}([.,]\d{1,2})?\s*€?\s*$",
               message=_l("Enter an amount in euros, such as 1250.00."))],
        render_kw={"inputmode": "decimal", "size": 12})
