"""Who may pass: the signed-in buyer of a shop's pages, with the factors their door asks for."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import redirect, request, url_for

from accounts.sessions import Door
from commerce.models import User
from storefront.security.sessions import at_door


def current_buyer() -> User | None:
    """The person signed in at the buyer door, if any (an operator or reseller is not a buyer)."""
    signed = at_door(Door.BUYER)
    return signed.user if signed is not None else None


def buyer_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Send anyone but a signed-in buyer to the buyer sign-in, then back."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_buyer() is None:
            return redirect(url_for("accounts.signin", next=request.script_root + request.path))
        return view(*args, **kwargs)

    return wrapped


def safe_next(default: str) -> str:
    """The ?next= target when it is a path on this site, else the default."""
    target = request.args.get("next", "")
    parts = urlsplit(target)
    # Only a path on this site: no scheme or host, and no backslash a browser may read as "/".
    if target.startswith("/") and not target.startswith("//") and "\\" not in target \
            and not parts.netloc and not parts.scheme:
        return target
    return default
