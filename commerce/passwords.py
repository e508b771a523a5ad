"""Password hashing with Argon2id."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Verified against when the e-mail is unknown, so timing does not reveal which accounts exist.
_DUMMY_HASH = _hasher.hash("comptoir-timing-equaliser")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


# --- the policy a new password meets ------------------------------------------------------------

BUYER_MIN_LENGTH = 10
STAFF_MIN_LENGTH = 12
MAX_LENGTH = 128
# zxcvbn scores 0 (guessed at once) to 4; below 3 the password is on, or near, the common lists.
MIN_SCORE = 3
ZXCVBN_MAX_INPUT = 72  # the library refuses longer inputs; the rest adds length only
# Words of this shop that make a password easy to guess here (ASVS 6.1.2), on top of the
# person's own e-mail and name and the shop's name.
CONTEXT_WORDS = ("comptoir", "microsoft", "office", "windows", "visio", "project", "licence",
                 "license", "revendeur", "reseller", "boutique", "shop", "admin", "operateur")


def password_problem(
    password: str, *, staff: bool, user_inputs: tuple[str, ...] = ()
) -> str | None:
    """Say why a new password is refused (too short, common, guessable), or None when it is fine.

    Common passwords are those of zxcvbn's frequency lists (passwords, names, words, keyboard
    patterns); the person's own e-mail, name and shop name count as common for them.
    """
    from flask_babel import gettext as _
    from zxcvbn import zxcvbn

    minimum = STAFF_MIN_LENGTH if staff else BUYER_MIN_LENGTH
    if len(password) < minimum:
        return _("Use at least %(count)d characters.", count=minimum)
    if len(password) > MAX_LENGTH:
        return _("Use at most %(count)d characters.", count=MAX_LENGTH)
    inputs = [*CONTEXT_WORDS, *(part for value in user_inputs for part in _words(value))]
    result = zxcvbn(password[:ZXCVBN_MAX_INPUT], user_inputs=inputs)
    if result["score"] < MIN_SCORE:
        return _("This password is too common or too easy to guess: choose a longer one, "
                 "for example a few unrelated words.")
    return None


def _words(value: str) -> list[str]:
    import re

    value = value.lower()
    return [value, *[w for w in re.split(r"[^a-z0-9]+", value) if len(w) >= 3]]
