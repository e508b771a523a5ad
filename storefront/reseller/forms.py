"""Reseller portal forms (Flask-WTF: CSRF on every POST)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Regexp


class CodeForm(FlaskForm):
    """A six-digit code from the reseller's authenticator app."""

    code = StringField(_l("Six-digit code"), validators=[
        InputRequired(_l("Enter the code shown by your authenticator app.")),
        Regexp(r"^\s*[0-9]{3}\s?[0-9]{3}\s*$", message=_l("Enter the six digits of the code."))],
        render_kw={"inputmode": "numeric", "maxlength": 7, "size": 8})


class LanguageForm(FlaskForm):
    """The language of the portal and of the weekly digest."""

    locale = SelectField(_l("Language"), choices=[SelectChoice("fr", "Français"),
                                                  SelectChoice("en", "English")],
                         validators=[InputRequired(_l("Choose a language."))])
