"""Language choice: the buyer's explicit choice (?lang=, kept in the session), else the
browser's (Accept-Language, on a first visit), else French. In the reseller portal, a signed-in
reseller's own language (set in the portal's settings or by the operator) beats them all.

A choice made in the footer is remembered for the session and beats the browser's; the
browser's preference is read again at each request until then (so that an anonymous visit
writes no session). Answers vary on Accept-Language (storefront/__init__.py).
"""

from __future__ import annotations

from typing import Any

import flask_babel
from babel.support import NullTranslations
from flask import Flask, current_app, g, has_request_context, request, session

SESSION_KEY = "lang"
MEMO = "comptoir_i18n"  # (locale, domain, translations, locale code) on Flask-Babel's namespace


def locales() -> list[str]:
    return list(_parsed_locales(current_app.config["LOCALES"]))


_LOCALES: dict[str, tuple[str, ...]] = {}


def _parsed_locales(setting: str) -> tuple[str, ...]:
    parsed = _LOCALES.get(setting)
    if parsed is None:
        parsed = _LOCALES[setting] = tuple(c.strip() for c in setting.split(",") if c.strip())
    return parsed


def _memo() -> tuple[Any, ...] | None:
    """This request's translations and locale code, worked out once per request and again
    whenever Flask-Babel's locale or domain changes (refresh(), force_locale())."""
    try:
        ctx = g._flask_babel
    except AttributeError:  # Flask-Babel has not been asked anything yet in this context
        ctx = None
    except RuntimeError:  # no app context: Flask-Babel's null translations
        return None
    if ctx is not None:
        memo = getattr(ctx, MEMO, None)
        locale = getattr(ctx, "babel_locale", None)
        if (memo is not None and locale is not None and memo[0] is locale
                and memo[1] is getattr(ctx, "babel_domain", None)):
            return memo  # type: ignore[no-any-return]
    translations = flask_babel.get_translations()  # sets the locale and domain if not yet set
    locale = flask_babel.get_locale()
    ctx = g._flask_babel
    memo = (locale, getattr(ctx, "babel_domain", None), translations, str(locale or ""))
    setattr(ctx, MEMO, memo)
    return memo


def translations() -> Any:
    """Flask-Babel's translations for this request, as `flask_babel.get_translations()`."""
    memo = _memo()
    return memo[2] if memo is not None else flask_babel.get_translations()


def locale_code() -> str:
    """The current locale as a string ("fr", "en"): `str(get_locale() or "fr")`, cheaply."""
    memo = _memo()
    if memo is None:
        locale = flask_babel.get_locale()
        return str(locale or "fr")
    return memo[3] or "fr"  # type: ignore[no-any-return]


def gettext(string: str, **variables: Any) -> str:
    """`flask_babel.gettext` through this request's translations."""
    text = translations().ugettext(string)
    return text if not variables else text % variables  # type: ignore[no-any-return]


def ngettext(singular: str, plural: str, num: int, **variables: Any) -> str:
    """`flask_babel.ngettext` through this request's translations."""
    variables.setdefault("num", num)
    return translations().ungettext(singular, plural, num) % variables  # type: ignore[no-any-return]


def install_template_gettext(app: Flask) -> None:
    """Give Jinja the same gettext callables as Flask-Babel does, through the memo above."""
    null = NullTranslations()

    def current() -> Any:
        memo = _memo()
        return memo[2] if memo is not None else null

    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda s: current().ugettext(s),
        ngettext=lambda s, p, n: current().ungettext(s, p, n),
        pgettext=lambda c, s: current().upgettext(c, s),
        npgettext=lambda c, s, p, n: current().unpgettext(c, s, p, n),
        newstyle=True,
    )


def select_locale() -> str:
    if not has_request_context():  # a command or a job: the shop's default language
        return str(current_app.config["DEFAULT_LOCALE"])
    available = locales()
    portal = _portal_locale()
    if portal in available:
        return portal
    chosen = request.args.get("lang")
    if chosen in available:
        if session.get(SESSION_KEY) != chosen:  # the same choice again writes nothing
            session[SESSION_KEY] = chosen
        return chosen
    if session.get(SESSION_KEY) in available:
        return str(session[SESSION_KEY])
    preferred = request.accept_languages.best_match(available)
    return str(preferred or current_app.config["DEFAULT_LOCALE"])


def _portal_locale() -> str | None:
    """The signed-in reseller's language on the portal's pages, else None."""
    if request.blueprint != "reseller" or g.get("partner") is None:
        return None
    from storefront.reseller.views import signed_in_reseller

    reseller = signed_in_reseller()
    return reseller.locale if reseller is not None else None
