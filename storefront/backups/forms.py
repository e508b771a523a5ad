"""The "find my licence" form (Flask-WTF: CSRF on every POST)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField
from wtforms.validators import Email, InputRequired, Length


class FindLicenceForm(FlaskForm):
    email = EmailField(_l("E-mail address"), filters=[lambda v: v.strip() if v else v], validators=[
        InputRequired(_l("Enter your e-mail address.")), Email(_l("Enter a valid e-mail address.")),
        Length(max=254)])


class RenewalForm(FlaskForm):
    consent = BooleanField(validators=[InputRequired(_l(
        "Tick the box so that the renewal starts at once; "
        "the order cannot go through without it."))])
    terms_version = HiddenField()
    terms = BooleanField(validators=[InputRequired(_l(
        "Accept the terms of sale: the order cannot go through without it."))])
