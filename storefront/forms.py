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
    # Checked against the billing country by python-stdnum, then VIES (commerce/taxation.py).
    vat_number = StringField(
        _l("VAT number (optional)"),
        validators=[
            Optional(),
            Length(max=24, message=_l("Enter a VAT number like FR40303265045.")),
        ],
    )
    billing_line1 = StringField(_l("Address"), validators=[Optional(), Length(max=200)])
    billing_postcode = StringField(_l("Postcode"), validators=[Optional(), Length(max=16)])
    billing_city = StringField(_l("City"), validators=[Optional(), Length(max=100)])
    billing_country = SelectField(_l("Billing country"), default="FR", validators=[InputRequired()])
    # The total the page showed, in cents: a different total now is shown before paying.
    quoted_total = HiddenField()
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

    def validate_vat_number(self, field: StringField) -> None:
        """Format and check digits, and from the billing country (python-stdnum); VIES next."""
        from commerce.tax import TaxError, clean_vat_number

        try:
            clean_vat_number(field.data or "", self.billing_country.data or "")
        except TaxError as exc:
            raise ValidationError(_l("Enter a valid EU VAT number of your billing country, "
                                     "like FR40303265045.")) from exc

    def validate(self, extra_validators=None) -> bool:  # type: ignore[no-untyped-def, override]
        """A business (a company or a VAT number) gives the address its invoice names."""
        valid = super().validate(extra_validators)
        if (self.company.data or "").strip() or (self.vat_number.data or "").strip():
            for name in ("billing_line1", "billing_postcode", "billing_city"):
                field = getattr(self, name)
                if not (field.data or "").strip():
                    problem = _l("A business gives its address for the invoice.")
                    field.errors = [*field.errors, problem]
                    valid = False
        return valid


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


class ApproveChangeForm(FlaskForm):
    """A client approving users or an application their reseller prepared."""

    quoted_total = HiddenField()
    approve = BooleanField(
        _l("I approve this change and the immediate charge to the card of my subscription."),
        validators=[InputRequired(_l("Tick the box to approve the change."))])


class ReportActivatedForm(FlaskForm):
    """Reporting a key Microsoft refused as already activated: what follows acknowledged."""

    confirm = BooleanField(
        _l("I confirm that Microsoft refused this key because it is already activated."),
        validators=[InputRequired(_l("Tick the box to confirm the report."))])


class CancelSubscriptionForm(FlaskForm):
    """Stopping a subscription's renewal: the consequence acknowledged."""

    understood = BooleanField(
        _l("I understand that my subscription will not renew and that my users lose access at "
           "the end of the paid term."),
        validators=[InputRequired(_l("Tick the box to confirm."))])


class EraseAccountForm(FlaskForm):
    """Erasing one's own data: the password again, and the warning acknowledged."""

    password = PasswordField(_l("Your password"),
                             validators=[InputRequired(_l("Enter your password."))])
    understood = BooleanField(
        _l("I understand that my account and my data are erased for good, and that my "
           "order links and licence backups stop working."),
        validators=[InputRequired(_l("Tick the box to confirm."))])


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
