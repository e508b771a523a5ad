"""Licence numbers a person can read over the phone: `CPT-7K3M-Q9XH-2W4D`.

Eleven Crockford base32 symbols (55 random bits) and Crockford's mod-37 check symbol. Parsing
follows Crockford: case-insensitive, I and L read as 1, O read as 0, hyphens and spaces ignored.
"""

from __future__ import annotations

import re

SYMBOLS = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CHECK_SYMBOLS = SYMBOLS + "*~$=U"
PREFIX = "CPT"
DATA_LENGTH = 11
_DECODE = {ch: i for i, ch in enumerate(SYMBOLS)} | {"I": 1, "L": 1, "O": 0}
_CHECK_DECODE = {ch: i for i, ch in enumerate(CHECK_SYMBOLS)} | {"I": 1, "L": 1, "O": 0}


_SYMBOL = "[0-9A-HJKMNP-TV-Z]"
_CANONICAL = re.compile(f"CPT-{_SYMBOL}{{4}}-{_SYMBOL}{{4}}-{_SYMBOL}{{3}}.")
# Crockford symbols to the digits int(..., 32) reads, for a fast canonical check.
_TO_INT_DIGITS = str.maketrans(SYMBOLS, "0123456789ABCDEFGHIJKLMNOPQRSTUV")


class InvalidLicenceNumber(ValueError):
    """Text that is not a licence number (wrong length, symbol or check symbol)."""


def format_licence_number(value: int) -> str:
    """Format a 55-bit value as `CPT-XXXX-XXXX-XXXX` with its check symbol last."""
    if not 0 <= value < 32**DATA_LENGTH:
        raise ValueError("a licence number holds 55 bits")
    data = "".join(SYMBOLS[(value >> (5 * i)) & 31] for i in reversed(range(DATA_LENGTH)))
    body = data + CHECK_SYMBOLS[value % 37]
    return f"{PREFIX}-{body[0:4]}-{body[4:8]}-{body[8:12]}"


def new_licence_number() -> str:
    """Return a random licence number."""
    import secrets  # only to issue: verifying never draws a number, and starts without it

    return format_licence_number(secrets.randbits(5 * DATA_LENGTH))


def parse_licence_number(text: str) -> str:
    """Return the canonical form of a typed licence number, or raise InvalidLicenceNumber."""
    compact = text.strip().upper().replace("-", "").replace(" ", "")
    if len(compact) == DATA_LENGTH + 1 + len(PREFIX) and compact.startswith(PREFIX):
        compact = compact[len(PREFIX) :]
    if len(compact) != DATA_LENGTH + 1:
        raise InvalidLicenceNumber("a licence number has 12 symbols after CPT")
    value = 0
    for ch in compact[:DATA_LENGTH]:
        digit = _DECODE.get(ch)
        if digit is None:
            raise InvalidLicenceNumber(f"{ch!r} is not a licence number symbol")
        value = value * 32 + digit
    check = _CHECK_DECODE.get(compact[DATA_LENGTH])
    if check is None:
        raise InvalidLicenceNumber(f"{compact[DATA_LENGTH]!r} is not a check symbol")
    if value % 37 != check:
        raise InvalidLicenceNumber("check symbol does not match: a symbol was mistyped")
    return format_licence_number(value)


def is_licence_number(text: str) -> bool:
    """Say whether text parses as a licence number."""
    try:
        parse_licence_number(text)
    except InvalidLicenceNumber:
        return False
    return True


def is_canonical_licence_number(text: str) -> bool:
    """Say whether text is a licence number exactly as we print it (check symbol included)."""
    return _CANONICAL.fullmatch(text) is not None and check_symbol_matches(text)


def check_symbol_matches(number: str) -> bool:
    """Say whether a number already shaped `CPT-XXXX-XXXX-XXXC` ends in its check symbol."""
    data = number[4:8] + number[9:13] + number[14:17]
    return CHECK_SYMBOLS[int(data.translate(_TO_INT_DIGITS), 32) % 37] == number[17]
