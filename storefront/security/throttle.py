"""Sign-in throttling: per client address, and per account on top, counted in the limiter's store.

The address limits count every attempt from one client; the account limits count only failed
attempts at one e-mail address, from anywhere, so that spreading guesses over many addresses
does not help and a person's own successful sign-ins never lock them out.
"""

from __future__ import annotations

import hashlib

from flask import request
from flask.wrappers import Response

from extensions import limiter

ADDRESS_LIMIT = "10/minute;50/hour"
ACCOUNT_LIMIT = "5/15 minutes;20/day"
STAFF_ACCOUNT_LIMIT = "5/15 minutes;10/day"


def account_key() -> str:
    """The limiter key of the account named in the form (hashed: the store holds no address)."""
    email = (request.form.get("email") or "").strip().lower()
    return "account:" + hashlib.sha256(email.encode()).hexdigest()[:32]


def failed(response: Response) -> bool:
    """Count an attempt against the account only when it failed."""
    return response.status_code in (400, 401)


def sign_in_limits(account_limit: str = ACCOUNT_LIMIT):  # type: ignore[no-untyped-def]
    """Decorate a sign-in view with the address limit and the per-account failure limit."""

    def decorate(view):  # type: ignore[no-untyped-def]
        view = limiter.limit(account_limit, key_func=account_key, methods=["POST"],
                             deduct_when=failed, scope="sign-in-account")(view)
        return limiter.limit(ADDRESS_LIMIT, methods=["POST"])(view)

    return decorate
