"""Project Wycheproof Ed25519 vectors through the raw verify our token verifier uses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from licensing.token import ed25519_verify, load_public_key

VECTORS = Path(__file__).resolve().parents[1] / "data" / "wycheproof" / "ed25519_test.json"


def _cases() -> list[Any]:
    data = json.loads(VECTORS.read_text())
    cases = [
        pytest.param(group["publicKey"]["pk"], test, id=f"tc{test['tcId']}-{test['result']}")
        for group in data["testGroups"]
        for test in group["tests"]
    ]
    assert len(cases) == data["numberOfTests"] == 151
    return cases


@pytest.mark.parametrize(("public_key", "case"), _cases())
def test_wycheproof_vector_gives_expected_result(public_key: str, case: dict[str, Any]) -> None:
    key = load_public_key(bytes.fromhex(public_key))
    accepted = ed25519_verify(key, bytes.fromhex(case["sig"]), bytes.fromhex(case["msg"]))
    assert accepted == (case["result"] == "valid"), case["comment"] or case["flags"]
