"""Licence numbers: Crockford base32 with a mod-37 check symbol, typed loosely."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from licensing.numbers import (
    CHECK_SYMBOLS,
    SYMBOLS,
    InvalidLicenceNumber,
    format_licence_number,
    is_canonical_licence_number,
    is_licence_number,
    new_licence_number,
    parse_licence_number,
)

values = st.integers(min_value=0, max_value=32**11 - 1)
S = "[0-9A-HJKMNP-TV-Z]"
SHAPE = re.compile(f"CPT-{S}{{4}}-{S}{{4}}-{S}{{3}}[0-9A-HJKMNP-TV-Z*~$=U]")


def test_number_reads_like_the_example() -> None:
    number = new_licence_number()
    assert SHAPE.fullmatch(number)
    assert parse_licence_number(number) == number


def test_check_symbol_is_crockford_mod_37() -> None:
    assert format_licence_number(0) == "CPT-0000-0000-0000"
    assert format_licence_number(1) == "CPT-0000-0000-0011"
    assert format_licence_number(36) == "CPT-0000-0000-014U"
    assert format_licence_number(31) == "CPT-0000-0000-00ZZ"
    assert format_licence_number(32) == "CPT-0000-0000-010*"


@given(values)
def test_parsing_forgives_case_separators_and_look_alikes(value: int) -> None:
    number = format_licence_number(value)
    sloppy = number.lower().replace("-", " ").replace("1", "l").replace("0", "o")
    assert parse_licence_number(f"  {sloppy} ") == number
    assert parse_licence_number(number.replace("-", "")[3:]) == number
    assert parse_licence_number(number.replace("1", "I")) == number
    assert is_canonical_licence_number(number)


@given(values)
def test_every_single_mistyped_symbol_is_caught(value: int) -> None:
    number = format_licence_number(value)
    body = number[4:].replace("-", "")
    for i, original in enumerate(body):
        alphabet = SYMBOLS if i < 11 else CHECK_SYMBOLS
        for symbol in alphabet:
            if symbol == original:
                continue
            typo = body[:i] + symbol + body[i + 1 :]
            assert not is_licence_number(typo), (number, typo)
            assert not is_canonical_licence_number(f"CPT-{typo[:4]}-{typo[4:8]}-{typo[8:]}")


@given(values)
def test_swapped_neighbouring_symbols_are_caught(value: int) -> None:
    body = format_licence_number(value)[4:].replace("-", "")
    for i in range(10):
        if body[i] != body[i + 1]:
            swapped = body[:i] + body[i + 1] + body[i] + body[i + 2 :]
            assert not is_licence_number(swapped)


@pytest.mark.parametrize(
    "text", ["", "CPT", "CPT-0000-0000-001", "CPT-0000-0000-00111", "CPT-U000-0000-0000",
             "CPT-0000-0000-00#1", "ABC-0000-0000-0011"],
)
def test_non_numbers_are_refused(text: str) -> None:
    with pytest.raises(InvalidLicenceNumber):
        parse_licence_number(text)


def test_only_the_printed_form_is_canonical() -> None:
    number = format_licence_number(123456789)
    assert not is_canonical_licence_number(number.lower())
    assert not is_canonical_licence_number(number.replace("-", ""))
    with pytest.raises(ValueError):
        format_licence_number(32**11)
