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


# --- the step between a staff door's password and its second factor ------------------------------

PENDING_SECONDS = 300  # the second factor must follow the password within five minutes


def mark_password_passed(key: str, user: User, target: str) -> None:
    """Remember in the session that this person gave the right password, for the next step."""
    import time

    from flask import session

    session[key] = {"user": str(user.id), "at": int(time.time()), "next": target}


def password_passed(key: str, role: Any, fallback: str) -> tuple[User, str] | None:
    """The person whose password passed at a staff door within five minutes, and where to go
    once the second factor passes; None when there is none, too late, or not of that role."""
    import time
    import uuid

    from flask import session

    from extensions import db

    marker = session.get(key)
    if not isinstance(marker, dict) or time.time() - float(marker.get("at", 0)) > PENDING_SECONDS:
        session.pop(key, None)
        return None
    try:
        user = db.session.get(User, uuid.UUID(str(marker.get("user"))))
    except ValueError:
        return None
    if user is None or not user.active or user.role != role:
        return None
    return user, str(marker.get("next") or fallback)


def password_passed_key(key: str) -> str:
    """What throttles the second step: the person whose password passed (else "none")."""
    from flask import session

    marker = session.get(key)
    return f"{key}:" + (str(marker.get("user")) if isinstance(marker, dict) else "none")
