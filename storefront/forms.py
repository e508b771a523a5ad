"""Buyer and operator forms (Flask-WTF: CSRF on every POST)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    Email,
    EqualTo,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)

from commerce.orders import MAX_QUANTITY

EU_COUNTRIES = (
    "FR",
    "BE",
    "LU",
    "DE",
    "ES",
    "IT",
    "PT",
    "NL",
    "AT",
    "IE",
    "FI",
    "SE",
    "DK",
    "PL",
    "CZ",
    "SK",
    "SI",
    "HR",
    "HU",
    "RO",
    "BG",
    "GR",
    "CY",
    "MT",
    "EE",
    "LV",
    "LT",
)


class AddToCartForm(FlaskForm):
    quantity = IntegerField(
        _l("Quantity"),
        default=1,
        validators=[
            InputRequired(_l("Enter a quantity.")),
            NumberRange(
                1, MAX_QUANTITY, _l("Choose a quantity from 1 to %(max)s.", max=MAX_QUANTITY)
            ),
        ],
    )
    backup = BooleanField(_l("Licence backup, 2 years"))
    install = BooleanField(_l("Installation help"))


class CartLineForm(AddToCartForm):
    """A cart line's quantity and add-ons: the same fields as adding it."""


class EmptyForm(FlaskForm):
    """A form with nothing but its CSRF token (remove, sign out)."""


class CheckoutForm(FlaskForm):
    email = EmailField(
        _l("E-mail address"),
        validators=[
            InputRequired(_l("Enter your e-mail address.")),
            Email(_l("Enter a valid e-mail address.")),
            Length(max=254),
        ],
    )
    name = StringField(
        _l("Full name"), validators=[InputRequired(_l("Enter your name.")), Length(max=120)]
    )
    company = StringField(_l("Company (optional)"), validators=[Optional(), Length(max=160)])
    vat_number = StringField(
        _l("VAT number (optional)"),
        validators=[
            Optional(),
            Regexp(
                r"^[A-Za-z]{2}[0-9A-Za-z]{2,13}$",
                message=_l("Enter a VAT number like FR12345678901."),
            ),
        ],
    )
    billing_country = SelectField(_l("Billing country"), default="FR", validators=[InputRequired()])
    reseller_code = StringField(
        _l("Reseller code (optional)"),
        validators=[
            Optional(),
            Length(max=32),
            Regexp(
                r"^[A-Za-z0-9][A-Za-z0-9-]{1,31}$",
                message=_l("Enter the code your reseller gave you."),
            ),
        ],
    )
    consent = BooleanField(
        validators=[
            InputRequired(
                _l(
                    "Tick the box to receive your licence now; the order cannot go through "
                    "without it."
                )
            )
        ]
    )
    # The version of the terms of sale shown, and the box accepting them (legal/terms.py).
    terms_version = HiddenField()
    terms = BooleanField(
        validators=[
            InputRequired(_l("Accept the terms of sale: the order cannot go through without it."))
        ]
    )


class TestCardForm(FlaskForm):
    __test__ = False
    card_number = StringField(
        _l("Card number"),
        validators=[
            InputRequired(_l("Enter the card number.")),
            Regexp(r"^[0-9 ]{12,23}$", message=_l("Enter a card number.")),
        ],
    )


class SignInForm(FlaskForm):
    email = EmailField(
        _l("E-mail address"),
        validators=[
            InputRequired(_l("Enter your e-mail address.")),
            Email(_l("Enter a valid e-mail address.")),
        ],
    )
    password = PasswordField(_l("Password"), validators=[InputRequired(_l("Enter your password."))])


class StrongPassword:
    """Refuse short, common and guessable passwords (storefront/accounts/passwords.py).

    The form's `password_inputs` (e-mail, name) and `staff` attributes, when set, sharpen it.
    """

    def __call__(self, form: FlaskForm, field: PasswordField) -> None:
        from commerce.passwords import password_problem

        inputs = tuple(
            str(form[name].data or "") for name in ("email", "name") if name in form
        ) + tuple(getattr(form, "password_inputs", ()))
        problem = password_problem(
            field.data or "", staff=bool(getattr(form, "staff", False)), user_inputs=inputs
        )
        if problem:
            raise ValidationError(problem)


def _new_password(label: str, again: str) -> tuple[PasswordField, PasswordField]:
    """A new password and its confirmation, held to the password policy."""
    return (
        PasswordField(label, validators=[InputRequired(_l("Choose a password.")),
                                         StrongPassword()]),
        PasswordField(again, validators=[InputRequired(_l("Type the password again.")),
                                         EqualTo("password", _l("The passwords differ."))]),
    )


class SignUpForm(FlaskForm):
    name = StringField(
        _l("Full name"), validators=[InputRequired(_l("Enter your name.")), Length(max=120)]
    )
    email = EmailField(
        _l("E-mail address"),
        validators=[
            InputRequired(_l("Enter your e-mail address.")),
            Email(_l("Enter a valid e-mail address.")),
            Length(max=254),
        ],
    )
    password, confirm = _new_password(_l("Password"), _l("Password again"))


class EmailForm(FlaskForm):
    """One e-mail address (asking for a password reset link)."""

    email = EmailField(
        _l("E-mail address"),
        validators=[
            InputRequired(_l("Enter your e-mail address.")),
            Email(_l("Enter a valid e-mail address.")),
            Length(max=254),
        ],
    )


class ChangePasswordForm(FlaskForm):
    current = PasswordField(_l("Current password"),
                            validators=[InputRequired(_l("Enter your current password."))])
    password, confirm = _new_password(_l("New password"), _l("New password again"))


class NewPasswordForm(FlaskForm):
    password, confirm = _new_password(_l("New password"), _l("New password again"))


class BrandForm(FlaskForm):
    name = StringField(_l("Name"), validators=[InputRequired(), Length(max=120)])
    tagline = StringField(_l("Tagline"), validators=[Optional(), Length(max=200)])
    primary_color = StringField(_l("Primary colour"), validators=[InputRequired()])
    secondary_color = StringField(_l("Secondary colour"), validators=[InputRequired()])
    accent_color = StringField(_l("Accent colour"), validators=[InputRequired()])
    font = SelectField(_l("Font"))
    logo_url = StringField(_l("Logo address (https)"), validators=[Optional()])
    logo = FileField(_l("Logo file (PNG, JPEG or WebP)"))
    legal_notice = TextAreaField(_l("Legal notice"), validators=[Optional()])
    support_email = StringField(_l("Support e-mail"), validators=[Optional()])
    support_phone = StringField(_l("Support phone"), validators=[Optional()])
