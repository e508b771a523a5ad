"""The 5x5 product key format."""

from __future__ import annotations

import pytest

from fulfilment.simulators import build_simulator
from fulfilment.wholesalers.keys import (
    is_valid_product_key,
    mask_product_key,
    normalize_product_key,
)


@pytest.mark.parametrize("key", [
    "BCDFG-HJKMP-QRTVW-XY234-6789B",
    "VK7JG-NPHTM-C97JM-9MPGT-3V66T".replace("N", "B"),
    "22222-33333-44444-66666-77777",
])
def test_a_5x5_key_in_microsofts_alphabet_is_valid(key: str) -> None:
    assert is_valid_product_key(key)


@pytest.mark.parametrize("key", [
    "AAAAA-BBBBB-CCCCC-DDDDD-FFFFF",  # A is not in the alphabet
    "BCDFG-HJKMP-QRTVW-XY234-6789E",  # nor E
    "BCDFG-HJKMP-QRTVW-XY234-6789N",  # nor N
    "BCDFG-HJKMP-QRTVW-XY234-67890",  # nor 0
    "BCDFG-HJKMP-QRTVW-XY234-67891",  # nor 1
    "BCDFG-HJKMP-QRTVW-XY234-67895",  # nor 5
    "bcdfg-hjkmp-qrtvw-xy234-6789b",  # lower case
    "BCDFGHJKMPQRTVWXY2346789B",  # no dashes
    "BCDFG-HJKMP-QRTVW-XY234",  # four groups
    "BCDFG-HJKMP-QRTVW-XY234-6789B-BCDFG",  # six groups
    "BCDF-GHJKMP-QRTVW-XY234-6789B",  # uneven groups
    " BCDFG-HJKMP-QRTVW-XY234-6789B",  # surrounding space
    "BCDFG-HJKMP-QRTVW-XY234-6789B\n",
    "",
])
def test_anything_else_is_not_a_key(key: str) -> None:
    assert not is_valid_product_key(key)


@pytest.mark.parametrize("value", [None, 12345, b"BCDFG-HJKMP-QRTVW-XY234-6789B", ["x"]])
def test_non_strings_are_not_keys(value: object) -> None:
    assert not is_valid_product_key(value)


def test_a_key_typed_by_a_person_is_normalized() -> None:
    typed = " bcdfg hjkmp-qrtvw xy2346789b "
    assert normalize_product_key(typed) == "BCDFG-HJKMP-QRTVW-XY234-6789B"
    with pytest.raises(ValueError):
        normalize_product_key("not a key")


def test_a_masked_key_shows_only_its_last_group() -> None:
    assert mask_product_key("BCDFG-HJKMP-QRTVW-XY234-6789B") == "XXXXX-XXXXX-XXXXX-XXXXX-6789B"


@pytest.mark.parametrize("name", ["nexway", "arvato"])
def test_simulators_issue_only_valid_unique_keys(name: str) -> None:
    credentials = ({"api_key": "k", "callback_secret": "s"} if name == "nexway"
                   else {"username": "u", "password": "p"})
    simulator = build_simulator(name, **credentials)
    keys = [simulator.new_key() for _ in range(500)]
    assert all(is_valid_product_key(key) for key in keys)
    assert len(set(keys)) == len(keys)
