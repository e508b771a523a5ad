"""Secret links out of the address bar: the token moves into the session, then a redirect.

An e-mailed link carries its token in the URL once. Opening it stores the token in this
browser's server-side session and redirects to an address without it, so the token does not
stay in the history, in a Referer header, or in later log lines; the page behind the redirect
uses (or shows) it from the session.
"""

from __future__ import annotations

from flask import session

PREFIX = "link:"


def stash(kind: str, token: str) -> None:
    """Keep a link's token in the session (one per kind; a newer link replaces the older)."""
    session[PREFIX + kind] = token[:200]


def stashed(kind: str) -> str | None:
    token = session.get(PREFIX + kind)
    return token if isinstance(token, str) and token else None


def drop(kind: str) -> None:
    session.pop(PREFIX + kind, None)
