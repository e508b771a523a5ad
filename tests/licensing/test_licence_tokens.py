"""Licence tokens: round trips, strict parsing with named reasons, tamper detection."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from licensing_support import KeyPair, make_licence, new_keypair
from support.processes import PATIENCE

from licensing.jwks import PublishedKey
from licensing.numbers import format_licence_number
from licensing.token import (
    LICENCE_TAG,
    Licence,
    Reason,
    b64url_decode,
    b64url_encode,
    canonical_json,
    encode_signed,
    sign_licence,
)
from licensing.verify import KeyRing, Status, verify

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2027, 1, 1, tzinfo=UTC)
KEYS = new_keypair()

texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=60
)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=0))


@st.composite
def licences(draw: st.DrawFn) -> Licence:
    issued = draw(moments)
    lifetime = draw(st.none() | st.integers(min_value=1, max_value=10 * 365 * 86400))
    return make_licence(
        number=format_licence_number(draw(st.integers(0, 32**11 - 1))),
        product=draw(texts),
        edition=draw(texts),
        seats=draw(st.integers(1, 1_000_000)),
        order=draw(texts),
        partner=draw(texts),
        buyer=draw(texts),
        issued_at=issued,
        expires_at=None if lifetime is None else issued + timedelta(seconds=lifetime),
        product_key_sha256=draw(st.binary(min_size=32, max_size=32)).hex(),
    )


@settings(max_examples=300, deadline=None)
@given(licences())
def test_signed_licence_verifies_back_to_the_same_claims(licence: Licence) -> None:
    token = sign_licence(licence, KEYS.private, KEYS.kid)
    verdict = verify(token, KEYS.ring(), now=licence.issued_at)
    assert verdict.status is Status.VALID, verdict
    assert verdict.reason is Reason.OK
    assert verdict.licence == licence
    assert verdict.kid == KEYS.kid
    assert token.isascii() and token.startswith(f"{LICENCE_TAG}.{KEYS.kid}.")


def test_every_single_byte_change_is_rejected(keypair: KeyPair) -> None:
    token = sign_licence(make_licence(), keypair.private, keypair.kid)
    ring = keypair.ring()
    assert verify(token, ring, now=NOW).valid
    accepted = []
    for i, original in enumerate(token):
        for value in range(256):
            if chr(value) == original:
                continue
            mutated = token[:i] + chr(value) + token[i + 1 :]
            if verify(mutated, ring, now=NOW).status is not Status.INVALID:
                accepted.append((i, value))
        dropped = token[:i] + token[i + 1 :]
        if verify(dropped, ring, now=NOW).status is not Status.INVALID:
            accepted.append((i, "deleted"))
    assert accepted == []


def test_signature_respelled_with_nonzero_unused_bits_is_bad_base64(keypair: KeyPair) -> None:
    token = sign_licence(make_licence(), keypair.private, keypair.kid)
    head, signature = token.rsplit(".", 1)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(signature[-1])
    respelled = f"{head}.{signature[:-1]}{alphabet[last | 1]}"
    verdict = verify(respelled, keypair.ring(), now=NOW)
    assert (verdict.status, verdict.reason) == (Status.INVALID, Reason.BAD_BASE64)


def _resign(token: str, change) -> str:  # type: ignore[no-untyped-def]
    head, signature = token.rsplit(".", 1)
    return f"{head}.{b64url_encode(change(b64url_decode(signature)))}"


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda t: "XYZ" + t[3:], Reason.BAD_PREFIX),
        (lambda t: "key/" + t, Reason.BAD_PREFIX),
        (lambda t: "", Reason.BAD_PREFIX),
        (lambda t: "CPT2" + t[4:], Reason.UNKNOWN_VERSION),
        (lambda t: "CPT10" + t[4:], Reason.UNKNOWN_VERSION),
        (lambda t: t.rsplit(".", 1)[0], Reason.BAD_STRUCTURE),
        (lambda t: t + ".AAAA", Reason.TRAILING_DATA),
        (lambda t: t + "AAAA", Reason.TRAILING_DATA),
        (lambda t: _resign(t, lambda sig: sig[:63]), Reason.BAD_SIGNATURE),
        (lambda t: _resign(t, lambda sig: sig + b"\0"), Reason.TRAILING_DATA),
        (lambda t: t + "=", Reason.BAD_BASE64),
        (lambda t: t[:60] + "+" + t[61:], Reason.BAD_BASE64),
        (lambda t: t[:5] + "short" + t[48:], Reason.BAD_KEY_ID),
        (lambda t: t + " ", Reason.BAD_BASE64),
        (lambda t: " " + t, Reason.BAD_PREFIX),
        (lambda t: t + "A" * 9000, Reason.TOO_LONG),
    ],
)
def test_malformed_tokens_get_named_reasons(  # type: ignore[no-untyped-def]
    keypair: KeyPair, mangle, reason: Reason
) -> None:
    token = sign_licence(make_licence(), keypair.private, keypair.kid)
    verdict = verify(mangle(token), keypair.ring(), now=NOW)
    assert (verdict.status, verdict.reason) == (Status.INVALID, reason)
    assert verdict.licence is None


def test_key_id_never_published_is_invalid_unknown_key(keypair: KeyPair) -> None:
    token = sign_licence(make_licence(), keypair.private, keypair.kid)
    verdict = verify(token, new_keypair().ring(), now=NOW)
    assert (verdict.status, verdict.reason, verdict.kid) == (
        Status.INVALID, Reason.UNKNOWN_KEY, keypair.kid
    )


def test_signature_by_another_key_under_our_kid_is_bad_signature(keypair: KeyPair) -> None:
    token = sign_licence(make_licence(), new_keypair().private, keypair.kid)
    verdict = verify(token, keypair.ring(), now=NOW)
    assert (verdict.status, verdict.reason) == (Status.INVALID, Reason.BAD_SIGNATURE)


def _signed(keypair: KeyPair, payload: bytes) -> str:
    return encode_signed(LICENCE_TAG, keypair.kid, payload, keypair.private)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"[]", Reason.MALFORMED_PAYLOAD),
        (b"not json", Reason.MALFORMED_PAYLOAD),
        (b"\xff\xfe", Reason.MALFORMED_PAYLOAD),
        (b'{"a":1} {"b":2}', Reason.TRAILING_DATA),
        (b'{"seats":1}', Reason.MALFORMED_PAYLOAD),
    ],
)
def test_signed_but_malformed_payloads_are_invalid(
    keypair: KeyPair, payload: bytes, reason: Reason
) -> None:
    verdict = verify(_signed(keypair, payload), keypair.ring(), now=NOW)
    assert (verdict.status, verdict.reason) == (Status.INVALID, reason)


def test_payload_must_be_canonical_json(keypair: KeyPair) -> None:
    claims = make_licence().to_claims()
    spaced = json.dumps(claims, sort_keys=True).encode()
    unsorted = json.dumps(dict(reversed(list(claims.items()))), separators=(",", ":")).encode()
    escaped = canonical_json(claims).replace(b"Home", b"\\u0048ome")
    for payload in (spaced, unsorted, escaped):
        verdict = verify(_signed(keypair, payload), keypair.ring(), now=NOW)
        assert verdict.reason is Reason.NON_CANONICAL_PAYLOAD
    duplicated = canonical_json(claims)[:-1] + b',"seats":1}'
    assert verify(_signed(keypair, duplicated), keypair.ring(), now=NOW).status is Status.INVALID


@pytest.mark.parametrize(
    "change",
    [
        {"seats": 0},
        {"seats": True},
        {"seats": 1.0},
        {"number": "CPT-0000-0000-0001"},
        {"licence_id": "not-a-uuid"},
        {"issued_at": "2026-11-23T10:15:00+00:00"},
        {"issued_at": "2026-11-23 10:15:00Z"},
        {"expires_at": "2020-01-01T00:00:00Z"},
        {"product_key_sha256": "AB" * 32},
        {"product": ""},
        {"buyer": "tab\there"},
        {"extra": "field"},
        {"buyer": "x" * 201},
        {"buyer": "next\x85line"},
        {"seats": 1_000_001},
        {"number": "CPT-0000-0000-000\u00e9"},
        {"issued_at": "2026-13-23T10:15:00Z"},
        {"expires_at": "2026-11-23T10:15:00Z"},
    ],
)
def test_wrong_claim_values_are_malformed(keypair: KeyPair, change: dict) -> None:  # type: ignore[type-arg]
    claims = make_licence().to_claims() | change
    verdict = verify(_signed(keypair, canonical_json(claims)), keypair.ring(), now=NOW)
    assert (verdict.status, verdict.reason) == (Status.INVALID, Reason.MALFORMED_PAYLOAD)


def test_expired_licence_is_reported_expired(keypair: KeyPair) -> None:
    issued = datetime(2026, 1, 1, tzinfo=UTC)
    licence = make_licence(issued_at=issued, expires_at=issued + timedelta(days=365))
    token = sign_licence(licence, keypair.private, keypair.kid)
    assert verify(token, keypair.ring(), now=issued + timedelta(days=364)).valid
    verdict = verify(token, keypair.ring(), now=issued + timedelta(days=365))
    assert (verdict.status, verdict.reason, verdict.licence) == (
        Status.EXPIRED, Reason.EXPIRED, licence
    )


def test_licence_in_revocation_list_is_revoked(keypair: KeyPair) -> None:
    licence = make_licence()
    token = sign_licence(licence, keypair.private, keypair.kid)
    verdict = verify(token, keypair.ring(), now=NOW, revoked={licence.licence_id})
    assert (verdict.status, verdict.reason, verdict.licence) == (
        Status.REVOKED, Reason.LICENCE_REVOKED, licence
    )


def test_licence_signed_by_revoked_key_reports_key_revoked(keypair: KeyPair) -> None:
    token = sign_licence(make_licence(), keypair.private, keypair.kid)
    verdict = verify(token, keypair.ring(revoked_at=NOW), now=NOW)
    assert (verdict.status, verdict.reason) == (Status.REVOKED, Reason.KEY_REVOKED)


def test_non_text_token_is_invalid(keypair: KeyPair) -> None:
    verdict = verify(b"CPT1.abc", keypair.ring())  # type: ignore[arg-type]
    assert (verdict.status, verdict.reason) == (Status.INVALID, Reason.BAD_STRUCTURE)


def test_licence_refuses_invalid_fields() -> None:
    with pytest.raises(ValueError, match="naive|aware"):
        make_licence(issued_at=datetime(2026, 1, 1))  # noqa: DTZ001
    with pytest.raises(ValueError, match="whole seconds"):
        make_licence(issued_at=datetime(2026, 1, 1, 0, 0, 0, 5, tzinfo=UTC))
    with pytest.raises(ValueError, match="surrogate"):
        make_licence(buyer="\ud800")


def test_pure_modules_import_without_flask_or_sqlalchemy() -> None:
    code = (
        "import sys; import licensing.verify, licensing.revocations, licensing.jwks; "
        "bad = [m for m in ('flask', 'sqlalchemy', 'flask_sqlalchemy') if m in sys.modules]; "
        "print(bad); raise SystemExit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=PATIENCE)  # run() kills and reaps a child that outlives this
    assert done.returncode == 0, done.stdout + done.stderr


def test_standalone_verifier_exits_zero_only_for_valid(tmp_path: Path, keypair: KeyPair) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps(keypair.jwks()))
    good = sign_licence(make_licence(), keypair.private, keypair.kid)
    bad = good[:-2] + ("AA" if not good.endswith("AA") else "BA")
    run = [sys.executable, "-m", "licensing.verify", "--keys", str(keys)]
    ok = subprocess.run([*run, good], cwd=ROOT, capture_output=True, text=True,
                        timeout=PATIENCE)
    assert ok.returncode == 0, ok.stderr
    assert "status: valid" in ok.stdout and "product: OFFICE-HOME-2024" in ok.stdout
    ko = subprocess.run([*run, "--json", bad], cwd=ROOT, capture_output=True, text=True,
                        timeout=PATIENCE)
    assert ko.returncode == 1
    assert json.loads(ko.stdout)["status"] == "invalid"


def test_b64url_encoding_has_no_padding() -> None:
    assert b64url_encode(b"\xff") == "_w"
    assert PublishedKey(KEYS.public).kid == KEYS.kid
    assert len(KeyRing([PublishedKey(KEYS.public)])) == 1


@settings(max_examples=300, deadline=None)
@given(licences())
def test_fast_and_general_payload_parsers_agree(licence: Licence) -> None:
    from licensing.token import decode_licence, decode_payload, licence_from_claims

    payload = canonical_json(licence.to_claims())
    assert decode_licence(payload) == licence_from_claims(decode_payload(payload)) == licence


@pytest.mark.parametrize(("argv", "message"), [
    ([], "the licence to verify is missing"),
    (["CPT1.x"], "--keys is required"),
    (["CPT1.x", "--keys"], "--keys needs a file"),
    (["CPT1.x", "--keys", "k.json", "--colour"], "unknown option --colour"),
    (["CPT1.x", "CPT1.y", "--keys=k.json"], "one licence at a time"),
])
def test_the_offline_verifier_refuses_a_bad_command_line(argv, message, capsys) -> None:
    from licensing.verify import main

    assert main(argv, prog="verify") == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: verify [-h] --keys FILE") and f"error: {message}" in err


def test_the_offline_verifier_reads_options_in_either_form(tmp_path: Path, keypair: KeyPair,
                                                           capsys) -> None:
    from licensing.verify import main

    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps(keypair.jwks()))
    token = sign_licence(make_licence(), keypair.private, keypair.kid)
    assert main(["--json", f"--keys={keys}", token]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "valid"
    assert main(["-h"]) == 0 and "--revoked FILE" in capsys.readouterr().out
