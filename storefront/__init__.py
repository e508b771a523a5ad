"""The web face: partner shops, checkout, payments, accounts, back office, platform pages."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from flask import Flask, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from commerce.links import email_logo_url
from commerce.models import User
from commerce.money import format_money
from extensions import babel, db, login_manager
from legal.links import legal_links, terms_url
from partners.brand import css_variables
from storefront import api, api_ledger, backups, i18n, labels, pagecache, security, tenancy
from storefront.reseller import init_app as init_reseller_portal
from storefront.shop import referrals

TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"


def init_app(app: Flask) -> None:
    """Register the storefront's blueprints, hooks, filters and commands."""
    from storefront import cli
    from storefront.accounts.views import bp as accounts_bp
    from storefront.backoffice import bp as backoffice_bp
    from storefront.console import bp as console_bp
    from storefront.platform.views import bp as platform_bp
    from storefront.shop import (  # noqa: F401 - their routes and globals join the shop's
        editions,
        licences,
        media,
        seo,
    )
    from storefront.shop.views import bp as shop_bp

    babel.init_app(
        app, locale_selector=i18n.select_locale, default_translation_directories=str(TRANSLATIONS)
    )
    i18n.install_template_gettext(app)
    pagecache.install(app)  # innermost: inside the prefix, embed and proxy middlewares
    tenancy.init_app(app)
    security.init_app(app)
    referrals.init_app(app)
    pagecache.init_app(app)  # after the partner, the sign-in and the referral are known
    labels.init_app(app)
    login_manager.login_view = "accounts.signin"
    login_manager.blueprint_login_views = {"backoffice": "backoffice.login",
                                           "console": "console.login"}
    login_manager.login_message = None
    login_manager.user_loader(_load_user)
    for blueprint in (platform_bp, shop_bp, accounts_bp, backoffice_bp, console_bp):
        app.register_blueprint(blueprint)
    app.context_processor(_template_context)
    app.add_template_filter(_money, "money")
    from storefront.shop.pricing import country_name, percent

    app.add_template_filter(percent, "percent")
    app.add_template_filter(country_name, "country_name")
    app.add_template_filter(_local_datetime, "local_dt")
    app.add_template_global(legal_links, "legal_links")
    app.add_template_global(terms_url, "terms_url")
    app.add_template_global(email_logo_url, "email_logo_url")
    app.add_template_filter(_local_date, "local_date")
    app.register_error_handler(HTTPException, _http_error)
    app.after_request(_vary_on_language)
    cli.init_app(app)
    api.init_app(app)
    api_ledger.init_app(app)
    init_reseller_portal(app)
    backups.init_app(app)


def _vary_on_language(response: Any) -> Any:
    """A shop's page is in the browser's language until the buyer picks one."""
    if g.get("partner") is not None:
        response.vary.add("Accept-Language")
    return response


def _load_user(user_id: str) -> User | None:
    try:
        return db.session.get(User, uuid.UUID(user_id))
    except ValueError:
        return None


def _template_context() -> dict[str, Any]:
    partner = g.get("partner")
    context: dict[str, Any] = {
        "partner": partner,
        "locale": i18n.locale_code(),
        "locales": i18n.locales(),
    }
    if partner is not None:
        from storefront.shop import cart

        context["brand_css"] = css_variables(partner)
        context["cart_count"] = cart.count(partner)
    return context


def _money(cents: int, currency: str = "EUR") -> str:
    return format_money(cents, currency, i18n.locale_code())


# English is written the British way: day before month, 24-hour clock, as the shops' buyers in
# Europe read a date (Babel's plain English writes 12/8/26 for 8 December, 2:19 AM).
_ENGLISH_FORMATS = "en_GB"


def _local_datetime(value: Any) -> str:
    from babel.dates import format_datetime
    from flask_babel import get_locale, get_timezone

    if not value:
        return ""
    locale = get_locale()
    if locale is not None and locale.language == "en" and not locale.territory:
        return format_datetime(value, "short", tzinfo=get_timezone(), locale=_ENGLISH_FORMATS)
    from flask_babel import format_datetime as localised

    return localised(value, "short")


def _local_date(value: Any) -> str:
    from flask_babel import format_date

    return format_date(value, "long") if value else ""


def _http_error(error: HTTPException) -> Any:
    if (
        request.path.startswith("/api/")
        or request.path.startswith("/webhooks/")
        or (request.accept_mimetypes.best == "application/json")
    ):
        code = (error.name or "error").lower().replace(" ", "_")
        return jsonify({"error": {"code": code, "message": error.description}}), error.code
    template = "storefront/error.html" if g.get("partner") is not None else "platform/error.html"
    return render_template(template, error=error), error.code
