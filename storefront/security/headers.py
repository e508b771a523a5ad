"""Security headers on every answer, in one place: CSP, HSTS, no-store for secrets."""

from __future__ import annotations

from typing import Any

from flask import current_app, g, request

from storefront.embed import frame_ancestors

HSTS_MAX_AGE = 365 * 24 * 3600  # one year
# Answers that show a product key, a licence, a backup or a token are never stored by a browser
# or a proxy. Whole areas where every page is personal, and single pages elsewhere.
NO_STORE_BLUEPRINTS = frozenset({"accounts", "backups", "reseller", "backoffice", "api",
                                 "api_ledger", "security", "console", "operator_api"})
NO_STORE_ENDPOINTS = frozenset({
    "shop.order_page", "shop.order_status", "shop.checkout_return", "shop.checkout_cancel",
    "shop.order_access", "shop.order_access_expired", "shop.report_activated",
    "shop.claim_order", "shop.test_pay", "shop.checkout", "licensing.verify_licence",
    "shop.cart_from_link", "platform.dev_mail",
})


def no_store() -> None:
    """Mark this answer as not to be stored (for views outside the lists above)."""
    g.no_store = True


def content_security_policy(ancestors: str) -> str:
    """The CSP of an answer that may be framed by `ancestors` ('none' or embed origins)."""
    policy = _POLICIES.get(ancestors)
    if policy is None:
        # A payment begun in a frame ends on the partner's page that embeds the shop: the card
        # page's form may lead there (form-action also governs the redirects after a post).
        forms = "'self' https://checkout.stripe.com" + (
            " " + ancestors if ancestors != "'none'" else "")
        policy = (
            "default-src 'self'; img-src 'self' https: data:; style-src 'self' 'unsafe-inline'; "
            "object-src 'none'; base-uri 'none'; "
            f"form-action {forms}; frame-ancestors {ancestors}"
        )
        if len(_POLICIES) < 1024:  # embed origins are few; never let the memo grow unbounded
            _POLICIES[ancestors] = policy
    return policy


_POLICIES: dict[str, str] = {}
HSTS = f"max-age={HSTS_MAX_AGE}; includeSubDomains"


def apply(response: Any) -> Any:
    """after_request: add the headers every answer carries."""
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    if "Content-Security-Policy" not in headers:
        ancestors = frame_ancestors()
        if ancestors == "'none'":
            headers.setdefault("X-Frame-Options", "DENY")  # for browsers without CSP level 2
        headers["Content-Security-Policy"] = content_security_policy(ancestors)
    if current_app.config["ENV"] == "production":
        headers.setdefault("Strict-Transport-Security", HSTS)
    if _must_not_store():
        headers["Cache-Control"] = "no-store"
        headers["Pragma"] = "no-cache"
    return response


def _must_not_store() -> bool:
    if g.get("no_store"):
        return True
    if request.blueprint in NO_STORE_BLUEPRINTS or request.endpoint in NO_STORE_ENDPOINTS:
        return True
    from storefront.security.sessions import current

    return current() is not None  # a signed-in person's pages are theirs alone
