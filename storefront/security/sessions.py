"""Signed-in sessions: begun at one door, with the factors that passed, ended for good.

The session's data sits in the server-side store (Flask-Session) under a random id that only
the cookie carries. Each signed-in session also has an `auth_sessions` row, whose id is kept in
the data: every request checks that row, so an operator can list and end a person's sessions,
disabling an account ends them at once, and timeouts hold whatever the store keeps.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, flash, g, request, session
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from sqlalchemy import update

from accounts.factors import SECOND_FACTORS
from accounts.models import AuthSession
from accounts.sessions import DOOR_ROLE, Door, timeouts
from commerce.models import User
from extensions import db, utcnow

log = logging.getLogger("comptoir.security")

AUTH_KEY = "_auth"
# Keys that belong to a sign-in, dropped whenever a session begins or ends.
SIGN_IN_KEYS = ("_user_id", "_fresh", "_id", AUTH_KEY)
SEEN_RESOLUTION = timedelta(minutes=1)  # last-seen is written at most this often


@dataclass(frozen=True)
class SignedIn:
    """The valid sign-in of the current request."""

    user: User
    door: Door
    factors: frozenset[str]
    record_id: uuid.UUID

    @property
    def second_factor(self) -> bool:
        return bool(self.factors & SECOND_FACTORS)


def begin(user: User, door: Door, factors: Iterable[str]) -> AuthSession:
    """Sign a person in at a door: a new session id, a record, the factors that passed."""
    if user.role != DOOR_ROLE[door]:
        raise ValueError(f"a {user.role} account cannot sign in at the {door} door")
    _end_record(session.get(AUTH_KEY), "replaced by a new sign-in")
    _forget_sign_in()
    regenerate()
    now = utcnow()
    record = AuthSession(
        user_id=user.id, door=str(door), factors=",".join(sorted(set(factors))),
        created_at=now, last_seen_at=now, ip=(request.remote_addr or "")[:45],
        user_agent=(request.user_agent.string or "")[:200],
    )
    db.session.add(record)
    db.session.commit()
    login_user(user)
    session[AUTH_KEY] = {"id": str(record.id), "door": str(door), "factors": record.factor_list,
                         "at": now.timestamp(), "seen": now.timestamp()}
    g.pop("signed_in", None)
    log.info("security: %s signed in at the %s door with %s from %s", user.email, door,
             record.factors, record.ip)
    return record


def add_factor(factor: str) -> None:
    """Record one more factor that passed in this session: a change of privilege, a new id."""
    auth = session.get(AUTH_KEY)
    if not isinstance(auth, dict):
        raise RuntimeError("no signed-in session to add a factor to")
    factors = sorted(set(auth.get("factors", [])) | {factor})
    record = db.session.get(AuthSession, uuid.UUID(auth["id"]))
    if record is not None:
        record.factors = ",".join(factors)
        db.session.commit()
    regenerate()
    session[AUTH_KEY] = {**auth, "factors": factors}
    g.pop("signed_in", None)


def end(reason: str = "signed out") -> None:
    """End this session everywhere: its record, its data in the store, its cookie."""
    _end_record(session.get(AUTH_KEY), reason)
    logout_user()
    keep_lang = session.get("lang")
    session.clear()
    regenerate()
    if keep_lang:
        session["lang"] = keep_lang  # a language choice is not a sign-in: it stays
    g.pop("signed_in", None)


def regenerate() -> None:
    """Give the session a new id, keeping its data (the old id stops working at once)."""
    interface = current_app.session_interface
    if hasattr(interface, "regenerate"):
        session.modified = True
        if not session:
            session["_fresh_id"] = True  # regenerate() only acts on a non-empty session
        interface.regenerate(session)  # type: ignore[attr-defined]
        session.pop("_fresh_id", None)


def current() -> SignedIn | None:
    """The current request's valid sign-in, or None (checked once per request)."""
    if "signed_in" in g:
        return g.signed_in  # type: ignore[no-any-return]
    g.signed_in = _check()
    return g.signed_in  # type: ignore[no-any-return]


def at_door(door: Door) -> SignedIn | None:
    """The sign-in, if it came through this door."""
    signed = current()
    return signed if signed is not None and signed.door == door else None


def enforce() -> None:
    """before_request: drop a sign-in that ended, timed out or no longer matches its account."""
    current()


def _check() -> SignedIn | None:
    if "_user_id" not in session and AUTH_KEY not in session:
        return None
    auth = session.get(AUTH_KEY)
    problem, record = _problem(auth)
    if problem is not None:
        _drop(auth, problem)
        return None
    assert record is not None and isinstance(auth, dict)
    now = utcnow()
    if now.timestamp() - float(auth.get("seen", 0)) >= SEEN_RESOLUTION.total_seconds():
        session[AUTH_KEY] = {**auth, "seen": now.timestamp()}
        db.session.execute(update(AuthSession).where(AuthSession.id == record.id)
                           .values(last_seen_at=now).execution_options(synchronize_session=False))
        db.session.commit()
    return SignedIn(record.user, Door(record.door), frozenset(record.factor_list), record.id)


def _problem(auth: Any) -> tuple[str | None, AuthSession | None]:
    """Why a session's sign-in does not hold any more, or None with its record."""
    if not isinstance(auth, dict) or "id" not in auth:
        return "no sign-in record", None
    try:
        record = db.session.get(AuthSession, uuid.UUID(str(auth["id"])))
    except ValueError:
        return "no sign-in record", None
    if record is None or record.ended_at is not None:
        return "ended", record
    user = record.user
    if str(user.id) != str(session.get("_user_id")):
        return "another account", record
    if not user.active:
        return "account disabled", record
    try:
        door = Door(record.door)
    except ValueError:
        return "unknown door", record
    if user.role != DOOR_ROLE[door]:
        return "role changed", record
    limits, now = timeouts(door), utcnow()
    if now - record.created_at > limits.absolute:
        return "absolute timeout", record
    seen = datetime.fromtimestamp(float(auth.get("seen", 0)), now.tzinfo)
    if now - max(seen, record.last_seen_at) > limits.idle:
        return "idle timeout", record
    return None, record


def _drop(auth: Any, reason: str) -> None:
    if reason != "ended":
        _end_record(auth, reason)
    logout_user()
    keep_lang = session.get("lang")
    session.clear()
    if keep_lang:
        session["lang"] = keep_lang
    log.info("security: session dropped: %s", reason)
    if reason in ("idle timeout", "absolute timeout", "ended", "account disabled"):
        flash(_("Your session has ended. Please sign in again."), "info")


def _end_record(auth: Any, reason: str) -> None:
    if not isinstance(auth, dict) or "id" not in auth:
        return
    try:
        record_id = uuid.UUID(str(auth["id"]))
    except ValueError:
        return
    db.session.execute(
        update(AuthSession).where(AuthSession.id == record_id, AuthSession.ended_at.is_(None))
        .values(ended_at=utcnow(), end_reason=reason[:60])
        .execution_options(synchronize_session=False))
    db.session.commit()


def _forget_sign_in() -> None:
    for key in SIGN_IN_KEYS:
        session.pop(key, None)


def signed_in_user() -> User | None:
    """The signed-in person of this request, whatever the door."""
    signed = current()
    return signed.user if signed is not None else None


def is_signed_in() -> bool:
    return current() is not None and current_user.is_authenticated
