"""Issuing, revoking and verifying licences against the database; key rotation and revocation."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from licensing.errors import (
    ConfigurationError,
    InvalidLicenceRequest,
    KeyStateError,
    LicenceConflict,
    LicenceNotFound,
    NoActiveSigningKey,
)
from licensing.keys import (
    _aead,
    active_signer,
    create_signing_key,
    ensure_signing_key,
    list_signing_keys,
    open_private_key,
    revoke_signing_key,
    rotate_signing_key,
)
from licensing.models import (
    AuditAction,
    KeyRevocationReason,
    KeyStatus,
    LicenceRecord,
    LicensingAudit,
    RevocationReason,
    SigningKey,
)
from licensing.services import (
    get_licence,
    issue_licence,
    revocation_list,
    revoke_licence,
    verify_licence_token,
)
from licensing.token import Reason
from licensing.verify import Status

MakeRequest = Callable[..., Any]


def _audit(db: Any, action: AuditAction) -> int:
    return db.session.scalar(
        select(func.count()).select_from(LicensingAudit).where(LicensingAudit.action == action)
    )


def test_issued_licence_verifies_and_is_audited(  # type: ignore[no-untyped-def]
    db, signing_key, make_request
) -> None:
    issued = issue_licence(make_request(seats=3, partner="fnac"), actor="fulfilment")
    assert issued.created and issued.kid == signing_key.kid
    assert issued.licence.seats == 3 and issued.licence.partner == "fnac"
    assert issued.licence.licence_id == str(issued.id)
    verdict = verify_licence_token(issued.token)
    assert (verdict.status, verdict.reason, verdict.licence) == (
        Status.VALID, Reason.OK, issued.licence
    )
    assert _audit(db, AuditAction.LICENCE_ISSUED) == 1


def test_second_call_for_same_line_and_unit_returns_same_licence(  # type: ignore[no-untyped-def]
    db, signing_key, make_request
) -> None:
    request = make_request(order_line_ref="line-A", unit=2)
    first = issue_licence(request)
    again = issue_licence(request)
    assert (again.id, again.number, again.token) == (first.id, first.number, first.token)
    assert not again.created
    other_unit = issue_licence(make_request(order_line_ref="line-A", unit=3))
    assert other_unit.id != first.id
    assert db.session.scalar(select(func.count()).select_from(LicenceRecord)) == 2
    assert _audit(db, AuditAction.LICENCE_ISSUED) == 2


def test_same_line_and_unit_with_other_terms_is_a_conflict(  # type: ignore[no-untyped-def]
    signing_key, make_request
) -> None:
    issue_licence(make_request(order_line_ref="line-B"))
    with pytest.raises(LicenceConflict):
        issue_licence(make_request(order_line_ref="line-B", seats=5))


@pytest.mark.parametrize(
    "change",
    [{"seats": 0}, {"unit": -1}, {"product_key_sha256": "nope"}, {"order_line_ref": ""},
     {"expires_at": datetime(2030, 1, 1)}, {"buyer_ref": "a\nb"}],  # noqa: DTZ001
)
def test_bad_requests_are_refused(  # type: ignore[no-untyped-def]
    signing_key, make_request, change
) -> None:
    with pytest.raises(InvalidLicenceRequest):
        issue_licence(make_request(**change))


def test_issuing_without_an_active_key_fails_clearly(  # type: ignore[no-untyped-def]
    app, make_request
) -> None:
    with pytest.raises(NoActiveSigningKey):
        issue_licence(make_request())


def test_revoked_licence_reports_revoked_once(  # type: ignore[no-untyped-def]
    db, signing_key, make_request
) -> None:
    issued = issue_licence(make_request())
    revoked = revoke_licence(issued.number.lower(), RevocationReason.REFUND, "support:alice")
    assert revoked.revocation_reason is RevocationReason.REFUND and revoked.revoked_at
    again = revoke_licence(issued.id, RevocationReason.FRAUD, "support:bob")
    assert again.revoked_at == revoked.revoked_at
    assert again.revocation_reason is RevocationReason.REFUND
    assert _audit(db, AuditAction.LICENCE_REVOKED) == 1
    verdict = verify_licence_token(issued.token)
    assert (verdict.status, verdict.reason) == (Status.REVOKED, Reason.LICENCE_REVOKED)
    assert get_licence(str(issued.id)).revoked_at == revoked.revoked_at


def test_revoking_an_unknown_licence_raises(signing_key) -> None:  # type: ignore[no-untyped-def]
    for ref in ("CPT-0000-0000-0000", "00000000-0000-4000-8000-000000000000", "garbage"):
        with pytest.raises(LicenceNotFound):
            revoke_licence(ref, RevocationReason.REFUND, "test")


def test_subscription_licence_expires(  # type: ignore[no-untyped-def]
    signing_key, make_request
) -> None:
    issued_at = datetime(2026, 1, 1, tzinfo=UTC)
    issued = issue_licence(
        make_request(expires_at=issued_at + timedelta(days=30)), now=issued_at
    )
    assert verify_licence_token(issued.token, now=issued_at + timedelta(days=29)).valid
    verdict = verify_licence_token(issued.token, now=issued_at + timedelta(days=31))
    assert (verdict.status, verdict.reason) == (Status.EXPIRED, Reason.EXPIRED)


def test_rotation_keeps_earlier_licences_valid(  # type: ignore[no-untyped-def]
    signing_key, make_request
) -> None:
    before = issue_licence(make_request())
    new = rotate_signing_key(actor="test")
    after = issue_licence(make_request())
    assert new.kid != signing_key.kid and after.kid == new.kid and before.kid == signing_key.kid
    assert verify_licence_token(before.token).valid
    assert verify_licence_token(after.token).valid
    statuses = {info.kid: info.status for info in list_signing_keys()}
    assert statuses == {signing_key.kid: KeyStatus.RETIRED, new.kid: KeyStatus.ACTIVE}


def test_pending_key_is_published_before_it_signs(  # type: ignore[no-untyped-def]
    signing_key, make_request
) -> None:
    pending = create_signing_key(activate=False)
    assert pending.status is KeyStatus.PENDING
    assert issue_licence(make_request()).kid == signing_key.kid
    assert rotate_signing_key().kid == pending.kid
    assert issue_licence(make_request()).kid == pending.kid
    with pytest.raises(KeyStateError):
        rotate_signing_key(kid=signing_key.kid)


def test_revoked_key_makes_its_licences_report_it(  # type: ignore[no-untyped-def]
    signing_key, make_request
) -> None:
    issued = issue_licence(make_request())
    revoke_signing_key(signing_key.kid, KeyRevocationReason.COMPROMISE, actor="security")
    verdict = verify_licence_token(issued.token)
    assert (verdict.status, verdict.reason, verdict.licence) == (
        Status.REVOKED, Reason.KEY_REVOKED, issued.licence
    )
    replacement = issue_licence(make_request())
    assert replacement.kid != signing_key.kid
    assert verify_licence_token(replacement.token).valid


def test_unknown_kid_is_invalid(signing_key, make_request) -> None:  # type: ignore[no-untyped-def]
    from licensing_support import make_licence, new_keypair

    from licensing.token import sign_licence

    stranger = new_keypair()
    verdict = verify_licence_token(sign_licence(make_licence(), stranger.private, stranger.kid))
    assert (verdict.status, verdict.reason) == (Status.INVALID, Reason.UNKNOWN_KEY)


def test_private_key_is_encrypted_at_rest_and_bound_to_its_kid(  # type: ignore[no-untyped-def]
    app, db, signing_key
) -> None:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    row = db.session.scalars(select(SigningKey)).one()
    _, private = active_signer()
    raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    assert raw not in row.encrypted_private_key
    assert "encrypted" not in repr(row) and raw.hex() not in repr(signing_key)
    with pytest.raises(ConfigurationError):
        open_private_key(row.encrypted_private_key, row.kid, AESGCM(AESGCM.generate_key(256)))
    with pytest.raises(ConfigurationError):
        kek = _aead(app.config["LICENSING_KEK"])
        open_private_key(row.encrypted_private_key, "B" * 43, kek)


def test_ensure_signing_key_creates_once(app) -> None:  # type: ignore[no-untyped-def]
    first = ensure_signing_key()
    assert ensure_signing_key().kid == first.kid
    assert [info.status for info in list_signing_keys()] == [KeyStatus.ACTIVE]


def test_revocation_list_is_signed_and_filtered_by_since(  # type: ignore[no-untyped-def]
    signing_key, make_request
) -> None:
    from licensing.jwks import build_jwks
    from licensing.keys import published_keys
    from licensing.revocations import parse_revocation_list
    from licensing.verify import KeyRing

    old = issue_licence(make_request())
    new = issue_licence(make_request())
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    revoke_licence(old.id, RevocationReason.REFUND, "t", now=t0)
    revoke_licence(new.id, RevocationReason.FRAUD, "t", now=t0 + timedelta(days=2))
    ring = KeyRing.from_jwks(build_jwks(published_keys()))
    everything = parse_revocation_list(revocation_list().document, ring)
    assert {e.licence_id for e in everything} == {str(old.id), str(new.id)}
    recent = parse_revocation_list(revocation_list(t0 + timedelta(days=1)).document, ring)
    assert [e.reason for e in recent] == ["fraud"] and str(new.id) in recent


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seats=st.integers(1, 10_000),
    text=st.text(
        alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40
    ),
    days=st.none() | st.integers(1, 3650),
)
def test_issue_then_verify_round_trips(  # type: ignore[no-untyped-def]
    signing_key, make_request, seats, text, days
) -> None:
    now = datetime.now(UTC)
    expires = None if days is None else now + timedelta(days=days)
    request = make_request(seats=seats, edition=text, buyer_ref=text, partner=text,
                           expires_at=expires)
    issued = issue_licence(request, now=now)
    verdict = verify_licence_token(issued.token, now=now)
    assert verdict.status is Status.VALID
    assert verdict.licence == issued.licence == get_licence(issued.number).licence
    assert (verdict.licence.edition, verdict.licence.seats) == (text, seats)


def test_concurrent_issuance_for_one_line_gives_one_licence(  # type: ignore[no-untyped-def]
    app, db, postgres_only, signing_key, make_request
) -> None:
    request = make_request(order_line_ref="race-line", unit=0)
    barrier = threading.Barrier(8)
    results: list[Any] = []
    errors: list[BaseException] = []

    def worker() -> None:
        with app.app_context():
            try:
                barrier.wait()
                results.append(issue_licence(request))
                db.session.commit()  # the caller owns the transaction
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len({r.id for r in results}) == 1 and len(results) == 8
    assert sum(r.created for r in results) == 1
    assert db.session.scalar(select(func.count()).select_from(LicenceRecord)) == 1
    assert _audit(db, AuditAction.LICENCE_ISSUED) == 1
